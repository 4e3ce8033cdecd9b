"""Post-processing of a generated attribute's text, in oumi's order and with oumi's semantics (the seed
format is oumi's, so the same config gives the same values):

1. `regex`: keep the first match, the whole match (groups do not narrow it, as in oumi's code); a reply
   the pattern does not match is kept unchanged, as in oumi (`envsim validate` says so);
2. `cut_prefix`: keep the text after the first occurrence of the prefix (unchanged if it is absent);
3. `cut_suffix`: keep the text before the last occurrence of the suffix (unchanged if absent);
4. `strip_whitespace`: strip leading and trailing whitespace;
5. `added_prefix`, then 6. `added_suffix`: prepend / append literal text (not stripped).
"""

from __future__ import annotations

import re

from envsim.config.models import PostprocessingParams


def postprocess(text: str, params: PostprocessingParams) -> str:
    if params.regex:
        match = re.search(params.regex, text)
        if match is not None:
            text = match.group(0)
    if params.cut_prefix:
        head, found, tail = text.partition(params.cut_prefix)
        text = tail if found else head
    if params.cut_suffix:
        head, found, _ = text.rpartition(params.cut_suffix)
        text = head if found else text
    if params.strip_whitespace:
        text = text.strip()
    if params.added_prefix:
        text = params.added_prefix + text
    if params.added_suffix:
        text = text + params.added_suffix
    return text
