"""Render exported conversations through a model's chat template, the way transformers does, and report.

`transformers` renders `apply_chat_template` with a sandboxed Jinja environment (`ImmutableSandboxedEnvironment`,
`trim_blocks`, `lstrip_blocks`, the `loopcontrols` extension and its `{% generation %}` tag), a `tojson`
filter that keeps non-ASCII text, and the globals `raise_exception` and `strftime_now`; the template gets
`messages`, `tools`, `add_generation_prompt` and the tokenizer's special tokens. This module does the same
without transformers, so a user can check a training file against a template before spending GPU hours:

    report = check_template(load_chat_template("tokenizer_config.json"), rows)

For each conversation: did it render (else the first error), are the tool names and each call's name and
argument values visible in the text, and were the arguments double-encoded (a JSON string serialized
again, `"{\\"order_id\\": ...}"`: what templates do with string arguments, silently).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
import jinja2.ext
import jinja2.nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from envsim.errors import EnvsimError

_GENERATION_TAG = re.compile(r"{%-?\s*generation\s*-?%}")
_SPECIAL_TOKENS = ("bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token", "mask_token")


class _GenerationTag(jinja2.ext.Extension):
    """`{% generation %}...{% endgeneration %}` (transformers marks assistant tokens with it); renders its body."""

    tags = {"generation"}  # noqa: RUF012 (jinja's class attribute)

    def parse(self, parser: Any) -> jinja2.nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_render"), [], [], body).set_lineno(lineno)

    def _render(self, caller: Any) -> str:
        return str(caller())


def _raise_exception(message: str) -> None:
    raise jinja2.exceptions.TemplateError(message)


def _tojson(
    value: Any, ensure_ascii: bool = False, indent: int | None = None, separators: Any = None, sort_keys: bool = False
) -> str:
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


@dataclass(frozen=True)
class ChatTemplate:
    source: str  # the file it came from
    text: str
    special_tokens: dict[str, str] = field(default_factory=dict)

    @property
    def marks_generation(self) -> bool:
        """Has `{% generation %}`: what TRL's `assistant_only_loss=True` needs to find the assistant tokens."""
        return bool(_GENERATION_TAG.search(self.text))

    def compile(self) -> jinja2.Template:
        env = ImmutableSandboxedEnvironment(
            trim_blocks=True, lstrip_blocks=True, extensions=[_GenerationTag, jinja2.ext.loopcontrols]
        )
        env.filters["tojson"] = _tojson
        env.globals["raise_exception"] = _raise_exception
        env.globals["strftime_now"] = _strftime_now
        try:
            return env.from_string(self.text)
        except jinja2.TemplateSyntaxError as exc:
            raise EnvsimError(
                f"{self.source}: the chat template does not parse: {exc.message} (line {exc.lineno})",
                hint="pass a Jinja chat-template file or a tokenizer_config.json holding `chat_template`",
            ) from exc


def _token_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return value["content"]  # AddedToken as serialized in tokenizer_config.json
    return None


def load_chat_template(path: str | Path, *, with_tools: bool = True) -> ChatTemplate:
    """A `.jinja` file, or a tokenizer_config.json with `chat_template` (a string, or named templates:
    the `tool_use` one when there are tools, else `default`)."""
    file = Path(path)
    try:
        raw = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise EnvsimError(f"cannot read the chat template {file}: {exc.strerror or exc}") from exc
    if file.suffix != ".json":
        # transformers passes the tokenizer's special tokens; take them from a tokenizer_config.json beside it
        sibling = file.with_name("tokenizer_config.json")
        tokens = _special_tokens(sibling) if sibling.is_file() else {}
        return ChatTemplate(str(file), raw, tokens)
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise EnvsimError(f"{file} is not valid JSON: {exc.msg} (line {exc.lineno})") from exc
    template = config.get("chat_template") if isinstance(config, dict) else None
    if isinstance(template, list):
        named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
        template = (named.get("tool_use") if with_tools else None) or named.get("default")
    if not isinstance(template, str):
        raise EnvsimError(
            f"{file} holds no chat template (no `chat_template` string)",
            hint="newer models ship it as chat_template.jinja next to tokenizer_config.json: pass that file",
        )
    return ChatTemplate(str(file), template, _special_tokens(file, config))


def _special_tokens(file: Path, config: Any = None) -> dict[str, str]:
    if config is None:
        try:
            config = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return {}
    if not isinstance(config, dict):
        return {}
    return {name: text for name in _SPECIAL_TOKENS if (text := _token_text(config.get(name))) is not None}


@dataclass(frozen=True)
class ConversationCheck:
    id: str
    rendered: bool
    error: str | None = None  # the first error, when it did not render
    tools_visible: bool | None = None  # None: the conversation has no tools / no calls
    calls_visible: bool | None = None
    double_encoded: bool = False

    @property
    def ok(self) -> bool:
        return (
            self.rendered
            and self.tools_visible is not False
            and self.calls_visible is not False
            and not (self.double_encoded)
        )


@dataclass
class TemplateReport:
    template: ChatTemplate
    checks: list[ConversationCheck] = field(default_factory=list)

    @property
    def failed(self) -> list[ConversationCheck]:
        return [check for check in self.checks if not check.rendered]

    @property
    def problems(self) -> list[ConversationCheck]:
        """Rendered wrongly or not at all."""
        return [check for check in self.checks if not check.ok]


def _calls(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [call.get("function") or {} for m in messages for call in (m.get("tool_calls") or [])]


def _as_object(arguments: Any) -> Any:
    if isinstance(arguments, str):
        try:
            return json.loads(arguments)
        except json.JSONDecodeError:
            return None
    return arguments


def _scalar_texts(value: Any) -> list[str]:
    """The argument values a reader must find in the rendered text (strings and numbers)."""
    if isinstance(value, dict):
        return [text for v in value.values() for text in _scalar_texts(v)]
    if isinstance(value, list):
        return [text for v in value for text in _scalar_texts(v)]
    if isinstance(value, bool) or value is None:
        return []
    return [str(value)] if isinstance(value, int | float | str) and str(value).strip() else []


def _double_encoded(text: str, arguments: Any) -> bool:
    """String arguments that the template serialized again: their escaped form (`{\\"order_id\\": ...}`)
    is in the text. (Object arguments cannot be double-encoded; a template shows them as JSON once.)"""
    return isinstance(arguments, str) and arguments.strip() not in ("", "{}") and json.dumps(arguments)[1:-1] in text


def check_conversation(
    compiled: jinja2.Template, template: ChatTemplate, id: str, messages: list[dict[str, Any]], tools: list[Any] | None
) -> ConversationCheck:
    try:
        text = compiled.render(
            messages=messages, tools=tools or None, add_generation_prompt=False, **template.special_tokens
        )
    except Exception as exc:  # any template failure (TemplateError, TypeError in a filter, ...) is the finding
        return ConversationCheck(id, rendered=False, error=f"{type(exc).__name__}: {exc}")
    names = [t.get("function", t).get("name", "") for t in tools or [] if isinstance(t, dict)]
    tools_visible = all(name in text for name in names) if names else None
    calls = _calls(messages)
    calls_visible = None
    if calls:
        calls_visible = all(
            call.get("name", "") in text and all(v in text for v in _scalar_texts(_as_object(call.get("arguments"))))
            for call in calls
        )
    double = any(_double_encoded(text, call.get("arguments")) for call in calls)
    return ConversationCheck(id, True, None, tools_visible, calls_visible, double)


Row = tuple[str, list[dict[str, Any]], list[Any] | None]  # (conversation id, messages, tools)


def check_template(template: ChatTemplate, rows: Iterable[Row]) -> TemplateReport:
    """Render every (id, messages, tools) through `template`; one check per conversation."""
    compiled = template.compile()
    report = TemplateReport(template)
    for id, messages, tools in rows:
        report.checks.append(check_conversation(compiled, template, id, messages, tools))
    return report


def rows_of_export(path: str | Path) -> list[Row]:
    """(id, messages, tools) of each line of an `hf`, `openai` or `oumi` export, exactly as written
    (what TRL hands to `apply_chat_template`)."""
    rows: list[Row] = []
    with Path(path).open(encoding="utf-8") as file:
        for number, line in enumerate(file, start=1):
            record = json.loads(line)
            if "messages" not in record:
                raise EnvsimError(
                    f"{path}:{number}: no `messages`: --check-template renders hf, openai and oumi exports",
                    hint="export with --format hf (what TRL's SFTTrainer reads) to check a chat template",
                )
            tools = record.get("tools")
            if isinstance(tools, str):
                tools = json.loads(tools)
            rows.append((str(record.get("id") or record.get("conversation_id") or number), record["messages"], tools))
    return rows
