"""The one redaction layer every output passes through: files a run writes, error messages, the terminal.

Two kinds of secret are replaced by `***`:
- known values: keys envsim has seen, from the environment (variables with secret names such as
  OPENAI_API_KEY), from configs (`api_key`, `--set ...api_key=...`) and from URLs (userinfo, secret query
  parameters such as `?api_key=`); `register_secret` adds more;
- anything shaped like a credential: provider key formats (sk-..., sk-ant-..., AKIA..., ghp_..., hf_...),
  `Bearer <token>`, `name=value` pairs and URL query parameters whose name marks a secret, URL userinfo.

Writers call `redact_text` (JSONL lines, JSON files, error renders); `install_stream_redaction` wraps
stdout and stderr so everything printed (rich tables, tracebacks, warnings, logging) is redacted too.
"""

from __future__ import annotations

import functools
import itertools
import os
import re
import sys
import threading
from collections.abc import Iterable
from typing import Any, TextIO
from urllib.parse import unquote

REDACTED = "***"
# Shorter values are not treated as secrets on their own: replacing "test" everywhere would mangle
# output, and no real key is this short.
MIN_SECRET_LENGTH = 8

# Key words that mark a secret. Keys are split into words (snake, kebab, camel case), so
# `max_new_tokens` or `tokens_per_minute` stay visible while `access_token`, `apiKey`, `db_password` do not.
_SECRET_WORDS = {"token", "secret", "password", "passwd", "apikey", "credential", "credentials", "authorization"}
_SECRET_PAIRS = {("api", "key"), ("private", "key"), ("access", "key"), ("secret", "key"), ("auth", "key")}
# Query parameter names that carry a credential in URLs, besides the secret-named ones.
_SECRET_QUERY_NAMES = {"key", "sig", "signature", "auth"}

_KEY_FORMATS = re.compile(
    r"(?<![A-Za-z0-9])(?:"
    r"sk-ant-[A-Za-z0-9_\-]{16,}"
    r"|sk-[A-Za-z0-9_\-]{16,}"
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}"
    r"|gh[pousr]_[A-Za-z0-9]{20,}"
    r"|github_pat_[A-Za-z0-9_]{20,}"
    r"|xox[abposr]-[A-Za-z0-9\-]{10,}"
    r"|hf_[A-Za-z0-9]{20,}"
    r"|AIza[0-9A-Za-z_\-]{30,}"
    r"|glpat-[A-Za-z0-9_\-]{20,}"
    r")"
)
_AUTH_SCHEME = re.compile(r"\b(?P<scheme>Bearer|Basic|Token)(?P<gap>\s+)[A-Za-z0-9._~+/=\-]{6,}", re.IGNORECASE)
_URL_USERINFO = re.compile(r"(?<![a-zA-Z0-9+.\-])(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<userinfo>[^/@\s\"'<>]+)@")
# `name=value` (query parameters, `--set a.b.api_key=...`) and `name: value` header lines. Patterns that
# start with a character class begin at a word boundary (lookbehind): linear time on long runs of letters.
_ASSIGNMENT = re.compile(
    r"(?<![A-Za-z0-9_\-])(?P<name>[A-Za-z_][A-Za-z0-9_\-]*)(?P<sep>=)(?P<value>[^\s&#\"'<>\\,;)\]}]+)"
)
_HEADER = re.compile(
    r"(?P<name>x-api-key|api-key|authorization|proxy-authorization)(?P<sep>[\"']?\s*:\s*[\"']?)"
    r"(?!(?:Bearer|Basic|Token)\b)(?P<value>[^\s\"'<>\\,;]+)",
    re.IGNORECASE,
)

_lock = threading.Lock()
_registered: set[str] = set()


def _key_words(key: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", key)
    return [w for w in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if w]


@functools.lru_cache(maxsize=4096)
def is_secret_key(key: str) -> bool:
    """Does this key (config key, environment variable, query parameter, header) name a secret?"""
    words = _key_words(key)
    if any(w in _SECRET_WORDS for w in words):
        return True
    return any(pair in _SECRET_PAIRS for pair in itertools.pairwise(words))


def register_secret(value: str | None) -> None:
    """Redact this exact value (and its URL-decoded form) wherever it appears from now on."""
    if not value:
        return
    with _lock:
        for form in {value, unquote(value)}:
            if len(form) >= MIN_SECRET_LENGTH:
                _registered.add(form)


def register_secrets_in(value: Any) -> None:
    """Register the secrets a config-like value holds: values of secret-named keys, URL credentials."""
    if isinstance(value, dict):
        for key, item in value.items():
            if is_secret_key(str(key)) and isinstance(item, str):
                register_secret(item)
            else:
                register_secrets_in(item)
    elif isinstance(value, list | tuple):
        for item in value:
            register_secrets_in(item)
    elif isinstance(value, str):
        register_secrets_in_text(value)


def register_secrets_in_text(text: str) -> None:
    """Register the credentials a string carries in URLs (userinfo, secret query parameters) and
    `name=value` assignments (e.g. `--set inference_config.model.api_key=...`)."""
    for match in _URL_USERINFO.finditer(text):
        userinfo = match.group("userinfo")
        register_secret(userinfo.split(":", 1)[1] if ":" in userinfo else userinfo)
    for match in _ASSIGNMENT.finditer(text):
        if _secret_assignment(match.group("name")):
            register_secret(match.group("value"))


def register_argv(argv: Iterable[str]) -> None:
    """Register secrets given on a command line: `--set a.api_key=V`, `--a.api_key V`, URLs with keys."""
    previous = ""
    for arg in argv:
        register_secrets_in_text(arg)
        if previous.startswith("--") and "=" not in previous and is_secret_key(previous.rsplit(".", 1)[-1]):
            register_secret(arg)
        previous = arg


def _secret_assignment(name: str) -> bool:
    last = name.rsplit(".", 1)[-1]
    return is_secret_key(last) or last.lower() in _SECRET_QUERY_NAMES


def _environment_secrets() -> list[str]:
    # Read on every call (a test or a library may set a key later), from the raw bytes mapping when the
    # platform has one: decoding all of os.environ per written line would cost more than the redaction.
    raw = getattr(os.environ, "_data", None)
    if not isinstance(raw, dict):
        return [v for k, v in os.environ.items() if len(v) >= MIN_SECRET_LENGTH and is_secret_key(k)]
    return [os.fsdecode(v) for k, v in raw.items() if len(v) >= MIN_SECRET_LENGTH and _is_secret_env_name(k)]


@functools.lru_cache(maxsize=1024)
def _is_secret_env_name(name: bytes | str) -> bool:
    return is_secret_key(os.fsdecode(name))


@functools.lru_cache(maxsize=16)
def _known_values_pattern(values: frozenset[str]) -> re.Pattern[str] | None:
    if not values:
        return None
    # Longest first, so a key that contains another key is replaced whole.
    return re.compile("|".join(re.escape(v) for v in sorted(values, key=len, reverse=True)))


def _redact_assignment(match: re.Match[str]) -> str:
    if not _secret_assignment(match.group("name")) or match.group("value") == REDACTED:
        return match.group(0)
    return f"{match.group('name')}{match.group('sep')}{REDACTED}"


def redact_text(text: str) -> str:
    """`text` with every known secret and credential-shaped string replaced by `***`."""
    with _lock:
        values = frozenset(_registered.union(_environment_secrets()))
    known = _known_values_pattern(values)
    if known is not None:
        text = known.sub(REDACTED, text)
    text = _KEY_FORMATS.sub(REDACTED, text)
    text = _AUTH_SCHEME.sub(lambda m: f"{m.group('scheme')}{m.group('gap')}{REDACTED}", text)
    text = _URL_USERINFO.sub(lambda m: f"{m.group('scheme')}{REDACTED}@", text)
    text = _HEADER.sub(lambda m: f"{m.group('name')}{m.group('sep')}{REDACTED}", text)
    if "=" in text:
        text = _ASSIGNMENT.sub(_redact_assignment, text)
    return text


def redact_value(value: Any) -> Any:
    """A copy of a JSON value with secret-named keys and every string redacted (`redact_text`)."""
    if isinstance(value, dict):
        return {k: (REDACTED if is_secret_key(str(k)) and v is not None else redact_value(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


class RedactingStream:
    """A text stream that redacts what is written to it before passing it on (stdout / stderr)."""

    def __init__(self, inner: TextIO) -> None:
        self._inner = inner

    def write(self, text: str) -> int:
        self._inner.write(redact_text(text))
        return len(text)  # callers expect the length they wrote

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding, flush, buffer, ...
        return getattr(self._inner, name)


def install_stream_redaction() -> None:
    """Wrap sys.stdout and sys.stderr (once) so everything printed is redacted."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, RedactingStream):
            setattr(sys, name, RedactingStream(stream))
