"""Safe {placeholder} rendering."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from envsim.attributes.sampling import SampledValue
from envsim.templating import TemplateError, find_placeholders, render

TONE = SampledValue("tone", "Tone", "How the customer sounds", "angry", "Angry", "Raises their voice")


def test_plain_and_sampled_fields() -> None:
    values = {"tone": TONE, "topic": "refunds"}
    template = (
        "{topic}: {tone} / {tone.id} / {tone.name} / {tone.description} / {tone.parent} / {tone.parent.description}"
    )
    assert render(template, values) == (
        "refunds: Angry / angry / Angry / Raises their voice / Tone / How the customer sounds"
    )


def test_escapes_and_literal_braces() -> None:
    assert render("{{topic}} is {topic}; }}", {"topic": "x"}) == "{topic} is x; }"
    # JSON in a prompt is not a placeholder and needs no escaping.
    assert render('Reply with {"ok": true} about {topic}', {"topic": "x"}) == 'Reply with {"ok": true} about x'


def test_few_shot_index_and_nested_values() -> None:
    values = {"ex": [{"q": "first"}, {"q": "second"}], "profile": {"name": "Ann", "tags": ["a", "b"]}}
    assert render("{ex[1].q} {profile.name} {profile.tags[0]}", values) == "second Ann a"


def test_non_string_values_render_as_json_and_none_as_empty() -> None:
    values = {"d": {"a": 1}, "n": None, "b": True, "i": 3}
    assert render("{d}|{n}|{b}|{i}", values) == '{"a": 1}||true|3'


def test_unknown_name_names_template_and_name() -> None:
    with pytest.raises(TemplateError) as info:
        render("Hello {nam}", {"name": "x"}, where="strategy_params.generated_attributes[0]")
    text = str(info.value)
    assert "strategy_params.generated_attributes[0]" in text
    assert "'nam'" in text
    assert "name" in text  # the available names


@pytest.mark.parametrize(
    "template",
    [
        "{x.__class__}",
        "{x.__class__.__mro__}",
        "{tone.__dict__}",
        "{tone.__class__.__init__}",
        "{x.upper}",
        "{tone._fields}",
    ],
)
def test_python_internals_are_unreachable(template: str) -> None:
    with pytest.raises(TemplateError, match="no field"):
        render(template, {"x": "text", "tone": TONE})


@pytest.mark.parametrize("template", ["{0.__class__}", "{x!r}", "{x:>10}", "{x[0]!s}", "{ x }", "{x.}"])
def test_format_spec_syntax_is_inert_text(template: str) -> None:
    # None of these match the placeholder grammar, so they stay literal: nothing is evaluated.
    assert render(template, {"x": "text"}) == template


def test_index_errors_are_clear() -> None:
    with pytest.raises(TemplateError, match="out of range"):
        render("{ex[3].q}", {"ex": [{"q": 1}]})
    with pytest.raises(TemplateError, match="not a list"):
        render("{x[0]}", {"x": "abc"})


def test_find_placeholders_for_static_analysis() -> None:
    found = find_placeholders("a {x} {{y}} {ex[2].q} {tone.parent.description} {not json}")
    assert [(p.name, p.accessors, p.index) for p in found] == [
        ("x", (), None),
        ("ex", (2, "q"), 2),
        ("tone", ("parent", "description"), None),
    ]
    assert found[1].path == "ex[2].q"


@given(st.text())
def test_escaped_text_renders_back_to_itself(text: str) -> None:
    escaped = text.replace("{", "{{").replace("}", "}}")
    assert render(escaped, {}) == text
    assert find_placeholders(escaped) == []


@given(st.text(alphabet="{}.[]0123456789_abx_ ", max_size=30))
def test_arbitrary_brace_soup_only_ever_fails_with_template_errors(text: str) -> None:
    with contextlib.suppress(TemplateError):
        assert isinstance(render(text, {"a": {"b": ["x"]}, "x": "y"}), str)
