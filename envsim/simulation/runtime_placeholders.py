"""Placeholders oumi fills per conversation rather than from attributes: `{target_turns}` (the
conversation's number of turns; envsim counts user+assistant rounds, oumi counts messages) and
`{grounding_facts}` (the conversation's grounding facts, see grounding.py). They are filled before the
attribute templates are rendered; `{{target_turns}}` stays a literal."""

from __future__ import annotations

import re
from collections.abc import Mapping

RUNTIME_PLACEHOLDERS = ("target_turns", "grounding_facts")
_PATTERN = re.compile(r"(?<!\{)\{(" + "|".join(RUNTIME_PLACEHOLDERS) + r")\}(?!\})")


def fill_runtime_placeholders(template: str, values: Mapping[str, str]) -> str:
    # Braces in the values are doubled so the attribute renderer that runs next leaves them alone.
    return _PATTERN.sub(lambda m: values.get(m.group(1), m.group(0)).replace("{", "{{").replace("}", "}}"), template)
