"""`FakeModelServer`: a real HTTP server on 127.0.0.1 speaking the OpenAI and Anthropic wire formats.

    with FakeModelServer(handler) as server:            # its own event loop, in a background thread
        model = OpenAIChatModel("gpt-4o-mini", base_url=server.openai_base_url, api_key="test")
    async with FakeModelServer() as server: ...         # in the running loop
    proc = FakeModelServer.start_process(latency=0.2)   # a separate process, for benchmarks

Routes: `POST /v1/chat/completions` (also `/chat/completions`) and `POST /v1/messages`. Incoming wire
requests are parsed into `ModelRequest`s, so the handler sees the canonical request and tests can assert
what an SDK sent (`server.log[i].request`, and the raw JSON in `server.log[i].body`).

Replies come from `handler`: a function `request -> ModelResponse | Message | str` (sync or async), a
`ChatModel`, or a list of replies (served in order, like a `ScriptedModel`); by default a `MockModel`.
Latency (seconds, or a callable returning seconds) delays every answer; a `FaultPlan` makes chosen
requests fail (see `faults.py`); `emulate="llama-cpp-python"` answers as that server does, refusals and
single-slot queueing included (see `emulation.py`). `GET /v1/models` lists one model (not counted as a
request). An auth header is always required; with `api_key` set it must match.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from envsim.canonical import canonical_json, stable_hash
from envsim.messages import Message, ToolCall
from envsim.models.base import ChatModel, ModelRequest, ModelResponse, Usage
from envsim.models.mock import MockModel
from envsim.testing.fake_server import emulation, wire_anthropic, wire_openai
from envsim.testing.fake_server.batch_api import BatchAPI
from envsim.testing.fake_server.faults import FaultPlan, Latency, latency_seconds
from envsim.testing.fake_server.http11 import DropConnection, HttpRequest, HttpResponse, HttpServer
from envsim.testing.fake_server.wire_openai import WireError, dumps
from envsim.testing.scripted import ScriptedModel, to_response

HandlerResult = ModelResponse | Message | str
Handler = Callable[[ModelRequest], HandlerResult | Awaitable[HandlerResult]]

_ROUTES = {
    "/v1/chat/completions": "openai",
    "/chat/completions": "openai",
    "/v1/messages": "anthropic",
    "/messages": "anthropic",
}
_SECRET_HEADERS = {"authorization", "x-api-key"}


@dataclass
class RequestLogEntry:
    index: int
    path: str
    api: str | None  # "openai" | "anthropic" | None (unknown route)
    headers: dict[str, str]  # auth headers redacted
    body: Any = None  # the JSON the client sent
    request: ModelRequest | None = None  # the same, parsed into the canonical request
    response: ModelResponse | None = None  # what the handler answered
    status: int = 0  # 0: the connection was dropped or hung up without an answer
    fault: str | None = None
    error: str | None = None
    started: float = field(default_factory=time.time)
    duration: float = 0.0


class FakeModelServer:
    def __init__(
        self,
        handler: Handler | ChatModel | Sequence[Any] | None = None,
        *,
        latency: Latency = 0.0,
        faults: FaultPlan | None = None,
        api_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        keep_log: bool = True,
        simulate_prompt_cache: bool = True,
        batch_delay: float = 0.0,
        batch_expire_after: float | None = None,
        batch_faults: FaultPlan | None = None,
        emulate: str = "generic",
    ) -> None:
        if emulate not in emulation.EMULATIONS:
            raise ValueError(f"unknown server to emulate {emulate!r}; known: {', '.join(emulation.EMULATIONS)}")
        self.emulate = emulate
        self._slot = asyncio.Lock() if emulation.single_slot(emulate) else None
        self._model: ChatModel | None = None
        self._fn: Handler | None = None
        self.set_handler(handler)
        self.latency = latency
        self.faults = faults or FaultPlan()
        self.api_key = api_key
        self.keep_log = keep_log
        self.simulate_prompt_cache = simulate_prompt_cache
        self.log: list[RequestLogEntry] = []
        self.count = 0
        self._http = HttpServer(self._handle, host=host, port=port)
        # Batch APIs (files, batches, message batches); rows are answered like online requests.
        self.batch_faults = batch_faults or FaultPlan()
        self.batches = BatchAPI(
            self._answer_row,
            processing_delay=batch_delay,
            expire_after=batch_expire_after,
            row_fault=self.batch_faults.pick,
        )
        self._seen_prefixes: set[str] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def set_handler(self, handler: Handler | ChatModel | Sequence[Any] | None) -> None:
        """Replace how replies are computed (takes effect for the next request)."""
        if handler is None:
            self._model, self._fn = MockModel("fake-server"), None
        elif isinstance(handler, ChatModel):
            self._model, self._fn = handler, None
        elif isinstance(handler, Sequence) and not isinstance(handler, str):
            self._model, self._fn = ScriptedModel(list(handler), name="scripted:fake-server"), None
        else:
            self._model, self._fn = None, handler

    # ------------------------------------------------------------------ addresses

    @property
    def url(self) -> str:
        return f"http://{self._http.host}:{self._http.port}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.url

    @property
    def requests(self) -> list[ModelRequest]:
        """The parsed requests received so far, in order (unparseable ones left out)."""
        return [e.request for e in self.log if e.request is not None]

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> FakeModelServer:
        await self._http.start()
        return self

    async def stop(self) -> None:
        await self.batches.aclose()
        await self._http.stop()

    async def __aenter__(self) -> FakeModelServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def __enter__(self) -> FakeModelServer:
        """Serve from a background thread with its own event loop."""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="envsim-fake-server", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.start(), self._loop).result(timeout=10)
        return self

    def __exit__(self, *exc: object) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self.stop(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        self._loop = self._thread = None

    async def serve_forever(self) -> None:
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    @staticmethod
    def start_process(
        *,
        latency: float = 0.0,
        handler: str | None = None,
        api_key: str | None = None,
        port: int = 0,
        fault_rates: dict[str, float] | None = None,
        retry_after: float | None = None,
        startup_timeout: float = 20.0,
        batch_delay: float = 0.0,
    ) -> ServerProcess:
        """Run the server in a separate Python process (`python -m envsim.testing.fake_server`), so
        benchmarks measure the client without sharing its GIL. `handler` is a `module:function` string."""
        cmd = [sys.executable, "-m", "envsim.testing.fake_server", "--port", str(port), "--latency", str(latency)]
        cmd += ["--exit-with-stdin"]  # our end of its stdin closes when we exit, even on SIGKILL: no orphan
        if handler:
            cmd += ["--handler", handler]
        if api_key:
            cmd += ["--api-key", api_key]
        for kind, rate in (fault_rates or {}).items():
            cmd += ["--fault", f"{kind}={rate}"]
        if retry_after is not None:
            cmd += ["--retry-after", str(retry_after)]
        if batch_delay:
            cmd += ["--batch-delay", str(batch_delay)]
        # stderr goes to a file: a pipe nobody reads would fill up and stall the server.
        errors = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed by ServerProcess.stop
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, text=True)
        return ServerProcess.wait_for_url(proc, startup_timeout, errors)

    # ------------------------------------------------------------------ requests

    async def _handle(self, http: HttpRequest) -> HttpResponse:
        # Latency counts from when the whole request had arrived, as a client would measure it.
        arrived = http.received or asyncio.get_running_loop().time()
        if http.method == "GET" and http.path.rstrip("/") in ("/v1/models", "/models"):
            return _json(200, emulation.models_reply(self.emulate))
        index = self.count
        self.count += 1
        started, t0 = time.time(), time.perf_counter()
        headers = {k: ("<redacted>" if k in _SECRET_HEADERS else v) for k, v in http.headers.items()}
        if self.batches.handles(http.path):
            return await self._batch_route(http, index, headers, started)
        api = _ROUTES.get(http.path.rstrip("/") or "/")
        entry = RequestLogEntry(index=index, path=http.path, api=api, headers=headers, started=started)
        if self.keep_log:
            self.log.append(entry)
        try:
            response = await self._answer(http, api, entry, arrived)
        except DropConnection:
            entry.duration = time.perf_counter() - t0
            raise
        entry.status = response.status
        entry.duration = time.perf_counter() - t0
        return response

    async def _batch_route(
        self, http: HttpRequest, index: int, headers: dict[str, str], started: float
    ) -> HttpResponse:
        api = "anthropic" if "/messages/" in http.path else "openai"
        entry = RequestLogEntry(index=index, path=http.path, api=f"{api}-batch", headers=headers, started=started)
        if self.keep_log:
            self.log.append(entry)
        auth_error = self._check_auth(api, http.headers)
        if auth_error:
            entry.error, entry.status = auth_error, 401
            wire = wire_anthropic if api == "anthropic" else wire_openai
            return _json(401, wire.error_body(401, auth_error))
        response = await self.batches.handle(http)
        entry.status = response.status
        return response

    async def _answer_row(self, api: str, body: dict[str, Any]) -> tuple[int, Any]:
        """One batch row, answered like an online request: (status, the response body)."""
        wire = wire_anthropic if api == "anthropic" else wire_openai
        try:
            request = wire.parse_request(body)
        except (ValueError, KeyError, TypeError) as exc:
            return 400, wire.error_body(400, f"invalid request: {exc}")
        try:
            response = self._with_usage(await self._reply(request), request, body, api)
        except Exception as exc:  # a handler bug: the row fails with the reason, like online
            return 500, wire.error_body(500, f"fake server handler failed: {type(exc).__name__}: {exc}")
        model = body.get("model", "fake")
        if api == "anthropic":
            forced = wire_anthropic.forced_tool(body)
            return 200, wire_anthropic.render_response(response, model=model, index=0, forced=forced)
        return 200, wire_openai.render_response(response, model=model, index=0)

    async def _answer(self, http: HttpRequest, api: str | None, entry: RequestLogEntry, arrived: float) -> HttpResponse:
        wire = wire_openai if api != "anthropic" else wire_anthropic
        if api is None:
            return _json(404, wire.error_body(404, f"no route {http.method} {http.path}"))
        if http.method != "POST":
            return _json(405, wire.error_body(400, f"{http.path} only accepts POST"))
        auth_error = self._check_auth(api, http.headers)
        if auth_error:
            entry.error = auth_error
            return _json(401, wire.error_body(401, auth_error))
        try:
            body = json.loads(http.body or b"null")
            if not isinstance(body, dict):
                raise WireError("the request body must be a JSON object")
            entry.body = body
            if body.get("stream"):
                raise WireError("the fake server does not stream; send stream=false")
            request = wire.parse_request(body)
        except (ValueError, KeyError, TypeError) as exc:  # JSON errors, WireError, pydantic ValidationError
            entry.error = f"bad request: {exc}"
            return _json(400, wire.error_body(400, f"invalid request: {exc}"))
        entry.request = request
        refused = emulation.refusal(self.emulate, body) if api == "openai" else None
        if refused is not None:
            entry.error = f"refused ({self.emulate}): {refused.message}"
            error = wire.error_body(refused.status, refused.message)
            error["error"]["param"] = refused.param
            return _json(refused.status, error)
        if not emulation.visible_tools(self.emulate, body):
            request = request.model_copy(update={"tools": [], "tool_choice": None})
        if self._slot is None:
            return await self._answer_in_time(request, body, api, entry, arrived)
        async with self._slot:  # one request at a time; the queue's wait is part of the others' latency
            start = asyncio.get_running_loop().time()
            return await self._answer_in_time(request, body, api, entry, start)

    async def _answer_in_time(
        self, request: ModelRequest, body: dict[str, Any], api: str, entry: RequestLogEntry, arrived: float
    ) -> HttpResponse:
        fault = self.faults.pick(entry.index)
        entry.fault = fault
        # The answer leaves `latency` after the request arrived, however long computing it took (like a
        # real server, whose latency includes its compute): work done meanwhile does not add to it.
        deadline = arrived + latency_seconds(self.latency)
        if fault is not None and fault not in ("bad_tool_args", "sloppy_tool_args"):
            await _sleep_until(deadline)
            return await self._fault_response(fault, api)
        answer = await self._success(request, body, api, entry, fault)
        await _sleep_until(deadline)
        return answer

    async def _success(
        self, request: ModelRequest, body: dict[str, Any], api: str, entry: RequestLogEntry, fault: str | None
    ) -> HttpResponse:
        wire = wire_openai if api != "anthropic" else wire_anthropic
        bad_args = fault in ("bad_tool_args", "sloppy_tool_args")
        try:
            response = await self._reply(request)
        except Exception as exc:  # a handler bug is the test author's to see: answer 500 with the reason
            entry.error = f"handler failed: {type(exc).__name__}: {exc}"
            return _json(500, wire.error_body(500, f"fake server handler failed: {type(exc).__name__}: {exc}"))
        if emulation.honours_max_tokens(self.emulate) and request.params.max_tokens:
            response = _cut_at(response, request.params.max_tokens)
        offered = bool(request.tools) and request.tool_choice == "auto"
        if offered and not emulation.text_with_tools(self.emulate) and not response.message.tool_calls:
            response = response.model_copy(update={"message": Message.assistant("")})
        response = self._with_usage(response, request, body, api)
        entry.response = response
        if bad_args and not response.message.tool_calls and request.tools:
            message = Message.assistant(None, [ToolCall.make(request.tools[0].name, {}, id=f"call_bad{entry.index}")])
            response = response.model_copy(update={"message": message, "finish_reason": "tool_calls"})
        model = body["model"]
        if api == "anthropic":
            forced = wire_anthropic.forced_tool(body)
            payload = wire_anthropic.render_response(
                response, model=model, index=entry.index, forced=forced, bad_tool_args=bad_args
            )
        else:
            payload = wire_openai.render_response(
                response,
                model=model,
                index=entry.index,
                bad_tool_args=fault == "bad_tool_args",
                sloppy_tool_args=fault == "sloppy_tool_args",
            )
        return _json(200, payload)

    def _check_auth(self, api: str, headers: dict[str, str]) -> str | None:
        bearer = headers.get("authorization", "")
        token = bearer[7:].strip() if bearer.lower().startswith("bearer ") else None
        if api == "anthropic":
            token = headers.get("x-api-key") or token
            missing = "x-api-key header is required"
            wrong = "invalid x-api-key"
        else:
            token = token or headers.get("api-key")  # Azure OpenAI's header
            missing = "You didn't provide an API key. Send it in an Authorization: Bearer header."
            wrong = f"Incorrect API key provided: {_mask(token or '')}."
        if not token:
            return missing
        if self.api_key is not None and token != self.api_key:
            return wrong
        return None

    async def _reply(self, request: ModelRequest) -> ModelResponse:
        if self._model is not None:
            return await self._model.generate(request)
        assert self._fn is not None
        result = self._fn(request)
        if inspect.isawaitable(result):
            result = await result
        return to_response(result, "fake-server")  # type: ignore[arg-type]

    def _with_usage(
        self, response: ModelResponse, request: ModelRequest, body: dict[str, Any], api: str
    ) -> ModelResponse:
        """Estimate usage the handler left out; simulate Anthropic prompt caching of the marked prefix."""
        usage = response.usage
        if usage.input_tokens == 0 and usage.output_tokens == 0:
            out_chars = len(response.message.content or "") + sum(
                len(c.function.arguments) for c in response.message.tool_calls or []
            )
            usage = Usage(
                requests=1,
                input_tokens=max(1, len(request.canonical_text()) // 4),
                output_tokens=max(1, out_chars // 4),
                cache_read_tokens=usage.cache_read_tokens,
                cache_write_tokens=usage.cache_write_tokens,
            )
        no_cache_given = usage.cache_read_tokens == 0 and usage.cache_write_tokens == 0
        if api == "anthropic" and self.simulate_prompt_cache and no_cache_given:
            prefix = wire_anthropic.cached_prefix(body)
            if prefix is not None:
                prefix_tokens = min(usage.input_tokens, max(1, len(canonical_json(prefix)) // 4))
                key = stable_hash(prefix)
                hit = key in self._seen_prefixes
                self._seen_prefixes.add(key)
                usage = usage.model_copy(
                    update={
                        "input_tokens": usage.input_tokens - prefix_tokens,
                        "cache_read_tokens": prefix_tokens if hit else 0,
                        "cache_write_tokens": 0 if hit else prefix_tokens,
                    }
                )
        return response if usage is response.usage else response.model_copy(update={"usage": usage})

    async def _fault_response(self, fault: str, api: str) -> HttpResponse:
        wire = wire_anthropic if api == "anthropic" else wire_openai
        retry = {} if self.faults.retry_after is None else {"retry-after": _seconds(self.faults.retry_after)}
        if fault == "rate_limit":
            return _json(429, wire.error_body(429, "Rate limit reached (fake server)."), retry)
        if fault == "overloaded":
            status = 529 if api == "anthropic" else 503
            return _json(status, wire.error_body(status, "Overloaded (fake server)."), retry)
        if fault == "server_error":
            return _json(500, wire.error_body(500, "The server had an error (fake server)."))
        if fault == "bad_request":
            return _json(400, wire.error_body(400, "Invalid request (fake server fault injection)."))
        if fault == "malformed_json":
            return HttpResponse(200, b'{"id": "broken", "choices": [{"index": 0, "message": {"role": "assis')
        if fault == "hang":
            await asyncio.sleep(self.faults.hang_seconds)
        raise DropConnection  # "drop", and a hang that outlived its time


def _cut_at(response: ModelResponse, max_tokens: int) -> ModelResponse:
    """The reply cut at `max_tokens` (estimated as characters / 4), as a server that honours it sends it."""
    text = response.message.content
    limit = max_tokens * emulation.CHARS_PER_TOKEN
    if text is None or len(text) <= limit or response.message.tool_calls:
        return response
    message = response.message.model_copy(update={"content": text[:limit]})
    return response.model_copy(update={"message": message, "finish_reason": "length"})


async def _sleep_until(deadline: float) -> None:
    remaining = deadline - asyncio.get_running_loop().time()
    if remaining > 0:
        await asyncio.sleep(remaining)


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> HttpResponse:
    return HttpResponse(status, dumps(payload), headers or {})


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _mask(token: str) -> str:
    """How OpenAI echoes a refused key: a few characters of each end."""
    return f"{token[:3]}***{token[-2:]}" if len(token) > 8 else "***"


@dataclass
class ServerProcess:
    """A fake server running in another process; `stop()` ends it."""

    url: str
    process: subprocess.Popen[str]
    errors: IO[str] | None = None

    @property
    def openai_base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.url

    @classmethod
    def wait_for_url(cls, proc: subprocess.Popen[str], timeout: float, errors: IO[str] | None = None) -> ServerProcess:
        assert proc.stdout is not None
        result: list[str] = []
        reader = threading.Thread(target=lambda: result.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout)
        line = result[0].strip() if result else ""
        if not line.startswith("http"):
            proc.kill()
            proc.wait()
            err = ""
            if errors is not None:
                errors.seek(0)
                err = errors.read()[-2000:]
                errors.close()
            raise RuntimeError(f"fake server process did not start: {line or '(no output)'} {err}")
        return cls(url=line, process=proc, errors=errors)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdin, self.process.stdout, self.errors):
            if stream is not None:
                stream.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
