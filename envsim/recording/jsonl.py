"""Append-only JSONL files that survive a killed writer.

A process killed mid-write can leave a last line without its newline ("torn"). Readers skip such a line;
a writer resuming the file truncates it away first, so the file never holds a corrupt or duplicate record.
Any other unparsable line is real corruption and is reported with its file and line number.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from envsim.errors import DataError
from envsim.redaction import redact_text

_READ_CHUNK = 1 << 16


def complete_length(path: Path) -> int:
    """Byte length of the file up to and including its last newline (0 for a missing or torn-only file)."""
    if not path.exists():
        return 0
    size = path.stat().st_size
    with path.open("rb") as fh:
        end = size
        while end > 0:
            start = max(0, end - _READ_CHUNK)
            fh.seek(start)
            chunk = fh.read(end - start)
            newline = chunk.rfind(b"\n")
            if newline != -1:
                return start + newline + 1
            end = start
    return 0


def truncate_torn_tail(path: Path) -> int:
    """Cut a torn last line off the file; returns the number of bytes removed."""
    if not path.exists():
        return 0
    size = path.stat().st_size
    keep = complete_length(path)
    if keep < size:
        with path.open("r+b") as fh:
            fh.truncate(keep)
    return size - keep


def iter_lines(path: Path) -> Iterator[tuple[int, int, bytes]]:
    """Stream (line number, byte offset, raw line without newline) of complete lines; skips a torn tail."""
    if not path.exists():
        return
    with path.open("rb") as fh:
        offset = 0
        for number, raw in enumerate(fh, start=1):
            if not raw.endswith(b"\n"):
                return  # torn last line from a killed writer
            line = raw[:-1]
            if line.strip():
                yield number, offset, line
            offset += len(raw)


def parse_line(path: Path, number: int, line: bytes) -> Any:
    try:
        return json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(
            f"{path}:{number}: corrupt JSON line ({exc})",
            hint="this line was not written by envsim as-is; delete it (the episode will be redone on resume)",
        ) from exc


def iter_records(path: Path) -> Iterator[Any]:
    """Stream parsed JSON values of complete lines."""
    for number, _offset, line in iter_lines(path):
        yield parse_line(path, number, line)


def dumps_line(value: Any) -> bytes:
    """One compact JSON line, UTF-8, newline-terminated, secrets redacted. Key order is the caller's."""
    return (redact_text(json.dumps(value, ensure_ascii=False, separators=(",", ":"))) + "\n").encode("utf-8")


def atomic_write_bytes(path: Path, chunks: Iterable[bytes], *, fsync: bool = False) -> None:
    """Write to a temp file in the same directory, then `os.replace`: readers see old or new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, value: Any, *, fsync: bool = False) -> None:
    text = redact_text(json.dumps(value, ensure_ascii=False, indent=2)) + "\n"
    atomic_write_bytes(path, [text.encode("utf-8")], fsync=fsync)
