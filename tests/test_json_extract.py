import pytest

from envsim.models.json_extract import JSONExtractionError, extract_json


@pytest.mark.parametrize(
    "text, expected",
    [
        ('{"a": 1}', {"a": 1}),
        ('Sure! ```json\n{"a": [1, 2]}\n``` hope that helps', {"a": [1, 2]}),
        ('Here it is: {"a": {"b": "}"}} and more text', {"a": {"b": "}"}}),
        ("[1, 2, 3] trailing", [1, 2, 3]),
    ],
)
def test_extracts_json_from_chatty_replies(text: str, expected: object) -> None:
    assert extract_json(text) == expected


def test_reports_why_when_there_is_no_json() -> None:
    with pytest.raises(JSONExtractionError, match="not valid JSON"):
        extract_json("I cannot do that {oops")
    with pytest.raises(JSONExtractionError, match="empty"):
        extract_json("   ")
