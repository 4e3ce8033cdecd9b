"""Cut document text into segments of `segment_length` characters, consecutive ones sharing
`segment_overlap` characters. The last segment may be shorter; no segment is empty."""

from __future__ import annotations


def segment(text: str, length: int, overlap: int) -> list[str]:
    if length < 1 or not 0 <= overlap < length:
        raise ValueError(f"need 0 <= overlap < length, got length={length}, overlap={overlap}")
    step = length - overlap
    segments: list[str] = []
    start = 0
    while start < len(text):
        segments.append(text[start : start + length])
        if start + length >= len(text):
            break
        start += step
    return segments
