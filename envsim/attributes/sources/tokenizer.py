"""Tokenizers for `segmentation_strategy: TOKENS` (oumi's segmentation), loaded offline-first.

`tokenizer:` may be a `tokenizer.json` file or a directory holding one (the `tokenizers` library), a
Hugging Face tokenizer id (its `tokenizer.json` from the local hub cache, else downloaded), or a
tiktoken encoding name such as `cl100k_base` (when tiktoken is installed). oumi's default is
`openai-community/gpt2`.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from envsim.attributes.sources.optional import require
from envsim.errors import DataError

OUMI_DEFAULT_TOKENIZER = "openai-community/gpt2"


class Tokenizer(Protocol):
    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: list[int]) -> str: ...


@dataclass(frozen=True)
class _HfTokenizer:
    inner: Any

    def encode(self, text: str) -> list[int]:
        return list(self.inner.encode(text, add_special_tokens=False).ids)

    def decode(self, ids: list[int]) -> str:
        return str(self.inner.decode(ids))


@dataclass(frozen=True)
class _TiktokenTokenizer:
    inner: Any

    def encode(self, text: str) -> list[int]:
        return list(self.inner.encode(text, disallowed_special=()))

    def decode(self, ids: list[int]) -> str:
        return str(self.inner.decode(ids))


@functools.lru_cache(maxsize=16)
def load_tokenizer(name: str, base_dir: Path) -> Tokenizer:
    """The tokenizer `name` names (see the module doc); DataError when it cannot be loaded."""
    local = (base_dir / name).expanduser()
    if local.is_dir() and (local / "tokenizer.json").is_file():
        local = local / "tokenizer.json"
    if local.is_file():
        tokenizers = require("tokenizers", package="tokenizers", extra="hf", needed_for="TOKENS segmentation")
        try:
            return _HfTokenizer(tokenizers.Tokenizer.from_file(str(local)))
        except Exception as exc:
            raise DataError(f"tokenizer file {local} cannot be read: {exc}") from exc
    if importlib.util.find_spec("tiktoken") is not None and "/" not in name:
        import tiktoken

        if name in tiktoken.list_encoding_names():
            try:
                return _TiktokenTokenizer(tiktoken.get_encoding(name))
            except Exception as exc:
                raise DataError(
                    f"tiktoken encoding {name!r} cannot be loaded ({type(exc).__name__}: {exc})",
                    hint="tiktoken downloads an encoding once; set TIKTOKEN_CACHE_DIR to a directory holding it",
                ) from exc
    return _from_hub(name)


def _from_hub(name: str) -> Tokenizer:
    tokenizers = require("tokenizers", package="tokenizers", extra="hf", needed_for="TOKENS segmentation")
    cached = _cached_tokenizer_file(name)
    if cached is not None:
        return _HfTokenizer(tokenizers.Tokenizer.from_file(cached))
    try:
        return _HfTokenizer(tokenizers.Tokenizer.from_pretrained(name))
    except Exception as exc:
        raise DataError(
            f"tokenizer {name!r} cannot be loaded: it is not a local tokenizer.json file or directory, not in "
            f"the local Hugging Face cache, and downloading it failed ({type(exc).__name__}: {str(exc)[:200]})",
            hint="point tokenizer at a tokenizer.json file (relative to the config), or download it once while online",
        ) from exc


def _cached_tokenizer_file(name: str) -> str | None:
    if importlib.util.find_spec("huggingface_hub") is None:
        return None
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(name, "tokenizer.json")
    return found if isinstance(found, str) else None


def segment_tokens(text: str, tokenizer: Tokenizer, length: int, overlap: int) -> list[str]:
    """oumi's token segmentation: windows of `length` tokens, `length - overlap` apart, decoded."""
    ids = tokenizer.encode(text)
    stride = length - overlap
    return [tokenizer.decode(ids[start : start + length]) for start in range(0, len(ids), stride)]
