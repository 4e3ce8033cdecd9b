"""Post-processing of a generated attribute's text, in this fixed order:

1. `cut_prefix`: keep the text after the first occurrence of the prefix (unchanged if it is absent).
2. `cut_suffix`: keep the text before the first occurrence of the suffix in what step 1 left
   (unchanged if absent). Together, prefix and suffix extract the first delimited block, e.g.
   cut_prefix "<answer>" + cut_suffix "</answer>".
3. `regex`: keep the first match; when the pattern has groups, keep group 1. No match is an error
   (the reply does not have the expected shape), never a silent pass-through.
4. `strip_whitespace`: strip leading and trailing whitespace.
5. `added_prefix`, then 6. `added_suffix`: prepend / append literal text (not stripped).
"""

from __future__ import annotations

import re

from envsim.config.models import PostprocessingParams
from envsim.errors import OutputValidationError


def postprocess(text: str, params: PostprocessingParams, *, attribute_id: str) -> str:
    if params.cut_prefix:
        head, found, tail = text.partition(params.cut_prefix)
        text = tail if found else head
    if params.cut_suffix:
        text = text.partition(params.cut_suffix)[0]
    if params.regex:
        match = re.search(params.regex, text, flags=re.DOTALL)
        if match is None:
            raise OutputValidationError(
                f"generated attribute {attribute_id!r}: the reply does not match regex {params.regex!r} "
                f"(reply starts {text[:200]!r})",
                attempts=1,
                last_reply=text,
            )
        text = match.group(1) if match.re.groups else match.group(0)
        text = text or ""  # an optional group that did not take part matches as None
    if params.strip_whitespace:
        text = text.strip()
    if params.added_prefix:
        text = params.added_prefix + text
    if params.added_suffix:
        text = text + params.added_suffix
    return text
