"""Post-processing of generated text: each step, and oumi's order and semantics (the seed format is
oumi's: the same config gives the same values as `oumi synth`)."""

from __future__ import annotations

from typing import Any

from envsim.attributes.postprocessing import postprocess
from envsim.config.models import PostprocessingParams


def run(text: str, **params: Any) -> str:
    settings = {"id": "out", "strip_whitespace": False, **params}
    return postprocess(text, PostprocessingParams(**settings))


def test_cut_prefix_keeps_text_after_first_occurrence() -> None:
    assert run("noise Q: one Q: two", cut_prefix="Q:") == " one Q: two"
    assert run("no marker", cut_prefix="Q:") == "no marker"


def test_cut_suffix_keeps_text_before_last_occurrence() -> None:
    assert run("answer END more END tail", cut_suffix="END") == "answer END more "
    assert run("no marker", cut_suffix="END") == "no marker"


def test_prefix_and_suffix_keep_what_lies_between_the_outermost_markers() -> None:
    text = "Sure! <a>first</a> and <a>second</a>"
    assert run(text, cut_prefix="<a>", cut_suffix="</a>") == "first</a> and <a>second"


def test_regex_keeps_the_whole_first_match() -> None:
    assert run("ids: 12, 34", regex=r"\d+") == "12"
    assert run("Name: Ann; Name: Bo", regex=r"Name: (\w+)") == "Name: Ann"  # oumi: match.group(0)
    assert run("a **bold** word", regex=r"\*\*(.+?)\*\*") == "**bold**"


def test_a_reply_the_regex_does_not_match_is_kept() -> None:
    assert run("nothing here", regex=r"\d+") == "nothing here"


def test_strip_whitespace() -> None:
    assert postprocess("  x \n", PostprocessingParams(id="o")) == "x"
    assert run("  x \n") == "  x \n"


def test_added_prefix_and_suffix_are_not_stripped() -> None:
    assert run("x", added_prefix="> ", added_suffix=" <") == "> x <"


def test_oumis_order_of_all_steps() -> None:
    # regex -> cut_prefix -> cut_suffix -> strip -> added_prefix -> added_suffix
    text = "chatter ANSWER:  id=42 is it  STOP ignored STOP"
    params = dict(
        regex=r"ANSWER:.*STOP",
        cut_prefix="ANSWER:",
        cut_suffix="STOP",
        strip_whitespace=True,
        added_prefix=" [",
        added_suffix="] ",
    )
    assert run(text, **params) == " [id=42 is it  STOP ignored] "
    # The regex runs on the raw reply, before the cuts: here it finds the 7 the cuts would have kept out.
    assert run("7 ANSWER: x STOP 8", regex=r"\d", cut_prefix="ANSWER:") == "7"
