"""Post-processing of generated text: each step, and the documented order."""

from __future__ import annotations

from typing import Any

import pytest

from envsim.attributes.postprocessing import postprocess
from envsim.config.models import PostprocessingParams
from envsim.errors import OutputValidationError


def run(text: str, **params: Any) -> str:
    settings = {"id": "out", "strip_whitespace": False, **params}
    return postprocess(text, PostprocessingParams(**settings), attribute_id="gen")


def test_cut_prefix_keeps_text_after_first_occurrence() -> None:
    assert run("noise Q: one Q: two", cut_prefix="Q:") == " one Q: two"
    assert run("no marker", cut_prefix="Q:") == "no marker"


def test_cut_suffix_keeps_text_before_first_occurrence() -> None:
    assert run("answer END more END", cut_suffix="END") == "answer "
    assert run("no marker", cut_suffix="END") == "no marker"


def test_prefix_and_suffix_extract_first_delimited_block() -> None:
    text = "Sure! <a>first</a> and <a>second</a>"
    assert run(text, cut_prefix="<a>", cut_suffix="</a>") == "first"


def test_regex_first_match_or_group_one() -> None:
    assert run("ids: 12, 34", regex=r"\d+") == "12"
    assert run("Name: Ann; Name: Bo", regex=r"Name: (\w+)") == "Ann"


def test_regex_without_match_is_an_error() -> None:
    with pytest.raises(OutputValidationError, match="does not match regex"):
        run("nothing here", regex=r"\d+")


def test_strip_whitespace() -> None:
    assert postprocess("  x \n", PostprocessingParams(id="o"), attribute_id="g") == "x"
    assert run("  x \n") == "  x \n"


def test_added_prefix_and_suffix_are_not_stripped() -> None:
    assert run("x", added_prefix="> ", added_suffix=" <") == "> x <"


def test_documented_order_of_all_steps() -> None:
    # cut_prefix -> cut_suffix -> regex -> strip -> added_prefix -> added_suffix
    text = "chatter ANSWER:  id=42 is it  STOP ignored STOP"
    params = dict(
        cut_prefix="ANSWER:",
        cut_suffix="STOP",
        regex=r"(id=\d+ is it)",
        strip_whitespace=True,
        added_prefix=" [",
        added_suffix="] ",
    )
    assert run(text, **params) == " [id=42 is it] "
    # Stripping happens before the added affixes, so they keep their spaces; the regex sees the cut text.
    assert run("ANSWER: 7 STOP 8", cut_prefix="ANSWER:", cut_suffix="STOP", regex=r"\d") == "7"
