"""`envsim serve`: the pairs job service over HTTP, in withpi's shapes, on aiohttp.

    POST   /data/generate_input_response_pairs                  PairsRequest -> JobStatus (QUEUED)
    GET    /data/generate_input_response_pairs[?state=S]        -> [JobStatus] (without data)
    GET    /data/generate_input_response_pairs/{job_id}         -> JobStatus, `data` = the pairs so far
    DELETE /data/generate_input_response_pairs/{job_id}         -> "job … cancelled" (pairs are kept)
    GET    /data/generate_input_response_pairs/{job_id}/data     streamed JSON array of pairs
    GET    /data/generate_input_response_pairs/{job_id}/messages streamed text/plain status lines
    GET    /openapi.json                                         the OpenAPI document (no key needed)

Every other request needs the operator's key in `x-api-key` (compared in constant time). There is no
default key: without one the server refuses to start, unless it is bound to loopback with `--no-auth`.
Jobs are run directories under the jobs directory: a restarted server resumes the jobs it left.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from envsim.errors import EnvsimError
from envsim.pairs.jobs import JobNotFound, PairsJobService, job_path, read_job
from envsim.pairs.openapi import API_KEY_HEADER, API_PREFIX, openapi_document
from envsim.pairs.runner import read_messages
from envsim.pairs.types import JobState, PairsRequest

API_KEY_ENV = "ENVSIM_SERVE_API_KEY"
STREAM_POLL_S = 0.25
_PUBLIC_PATHS = {"/openapi.json"}
SERVICE_KEY = web.AppKey("service", PairsJobService)
OPENAPI_KEY = web.AppKey("openapi", dict)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_auth_settings(host: str, api_key: str | None, no_auth: bool, key_env: str = API_KEY_ENV) -> None:
    """Refuse unsafe setups before binding: a key is required, except `--no-auth` on loopback."""
    if no_auth and api_key:
        raise EnvsimError(f"--no-auth was given but {key_env} is set", hint=f"drop --no-auth, or unset {key_env}")
    if no_auth and not is_loopback(host):
        raise EnvsimError(
            f"--no-auth is only allowed on a loopback address, not {host!r}",
            hint=f"bind --host 127.0.0.1, or set an API key in {key_env} and drop --no-auth",
        )
    if not no_auth and not api_key:
        raise EnvsimError(
            f"no API key configured: the environment variable {key_env} is not set",
            hint=f"export {key_env}=<a long random key> (clients send it as x-api-key), "
            "or use --no-auth with --host 127.0.0.1 for local use",
        )


def create_app(service: PairsJobService, *, api_key: str | None, version: str = "0") -> web.Application:
    app = web.Application(middlewares=[_errors, _auth(api_key)])
    app[SERVICE_KEY] = service
    app[OPENAPI_KEY] = openapi_document(version, auth=api_key is not None)
    app.router.add_get("/openapi.json", _openapi)
    app.router.add_post(API_PREFIX, _start)
    app.router.add_get(API_PREFIX, _list)
    app.router.add_get(API_PREFIX + "/{job_id}", _retrieve)
    app.router.add_delete(API_PREFIX + "/{job_id}", _cancel)
    app.router.add_get(API_PREFIX + "/{job_id}/data", _stream_data)
    app.router.add_get(API_PREFIX + "/{job_id}/messages", _stream_messages)
    return app


# ---------------------------------------------------------------------------------------------- middleware


def _auth(api_key: str | None) -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if api_key is not None and request.path not in _PUBLIC_PATHS:
            sent = request.headers.get(API_KEY_HEADER, "")
            if not hmac.compare_digest(sent.encode("utf-8"), api_key.encode("utf-8")):
                detail = "missing x-api-key header" if not sent else "wrong x-api-key"
                return web.json_response({"detail": detail}, status=401)
        return await handler(request)

    return middleware


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except JobNotFound as exc:
        return web.json_response({"detail": exc.message}, status=404)
    except ValidationError as exc:
        problems = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
        return web.json_response({"detail": problems}, status=422)
    except EnvsimError as exc:
        return web.json_response({"detail": exc.render()}, status=400)


# ---------------------------------------------------------------------------------------------- handlers


def _service(request: web.Request) -> PairsJobService:
    return request.app[SERVICE_KEY]


def _status_response(value: Any) -> web.Response:
    if isinstance(value, list):
        body = "[" + ",".join(v.model_dump_json() for v in value) + "]"
    else:
        body = value.model_dump_json()
    return web.Response(text=body, content_type="application/json")


async def _openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI_KEY])


async def _start(request: web.Request) -> web.Response:
    try:
        body = await request.json()
    except json.JSONDecodeError:
        return web.json_response({"detail": "the body is not valid JSON"}, status=400)
    job = PairsRequest.model_validate(body)
    return _status_response(await _service(request).start(job))


async def _list(request: web.Request) -> web.Response:
    state = request.query.get("state")
    if state is not None and state not in JobState.__members__:
        return web.json_response({"detail": f"unknown state {state!r}"}, status=422)
    return _status_response(_service(request).list(JobState(state) if state else None))


async def _retrieve(request: web.Request) -> web.Response:
    return _status_response(_service(request).get(request.match_info["job_id"]))


async def _cancel(request: web.Request) -> web.Response:
    status = await _service(request).cancel(request.match_info["job_id"])
    return web.json_response(f"job {status.job_id} is {status.state.value}")


async def _stream_data(request: web.Request) -> web.StreamResponse:
    """A JSON array written one pair at a time as the job records them; closed when the job ends."""
    path = job_path(_service(request).jobs_dir, request.match_info["job_id"])
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    await response.write(b"[")
    sent = 0
    while True:
        status = read_job(path)
        data = status.data or []
        for pair in data[sent:]:
            await response.write((b"," if sent else b"") + pair.model_dump_json().encode("utf-8"))
            sent += 1
        if status.state.terminal:
            break
        await asyncio.sleep(STREAM_POLL_S)
    await response.write(b"]")
    await response.write_eof()
    return response


async def _stream_messages(request: web.Request) -> web.StreamResponse:
    path = job_path(_service(request).jobs_dir, request.match_info["job_id"])
    response = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    sent = 0
    while True:
        terminal = read_job(path, include_data=False).state.terminal  # read first: no line is missed
        lines = read_messages(path)
        for line in lines[sent:]:
            await response.write(line.encode("utf-8") + b"\n")
        sent = max(sent, len(lines))
        if terminal:
            break
        await asyncio.sleep(STREAM_POLL_S)
    await response.write_eof()
    return response


# ---------------------------------------------------------------------------------------------- running


class PairsHttpServer:
    """The app on a TCP site; `async with PairsHttpServer(service, ...) as server: server.url`.
    Entering resumes the unfinished jobs of the jobs directory; leaving stops the running ones, which
    stay QUEUED on disk for the next start."""

    def __init__(
        self, service: PairsJobService, *, host: str = "127.0.0.1", port: int = 0, api_key: str | None = None
    ) -> None:
        from envsim import __version__

        self.service = service
        self.host = host
        self.port = port
        self.app = create_app(service, api_key=api_key, version=__version__)
        self._runner: web.AppRunner | None = None
        self.resumed: list[str] = []

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server  # aiohttp keeps the bound sockets here; port 0 needs the real one
        if server is not None and getattr(server, "sockets", None):
            self.port = server.sockets[0].getsockname()[1]
        self.resumed = await self.service.resume_unfinished()

    async def stop(self) -> None:
        await self.service.aclose()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> PairsHttpServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


async def serve_forever(server: PairsHttpServer, announce: Callable[[str], None] | None = None) -> None:
    """Run until cancelled (Ctrl-C) or SIGTERM; running jobs stay QUEUED for the next start."""
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):  # platforms without signal handlers
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with server:
        if announce is not None:
            announce(server.url)
        await stop.wait()
