"""One TLS context for every SDK client of a process.

Each SDK client otherwise builds its own: httpx2 imports httpcore2 (and trio with it) on first use and
loads the CA bundle, about 0.15 s of CPU per client. A run opens a client per provider, per role and per
worker process, so this cost landed on the first model call of every worker. Built once, in the parent
before it forks its workers (see `ChatModel.preload`), it is paid once per run.
"""

from __future__ import annotations

import functools
import ssl


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """The context httpx2 would build by default (CA bundle, SSL_CERT_FILE / SSL_CERT_DIR honoured)."""
    import httpx2

    return httpx2.create_ssl_context()
