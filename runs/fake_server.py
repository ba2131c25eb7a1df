"""A fake model provider on 127.0.0.1, fast enough to benchmark against, for tests and for
trying the product offline.

It speaks enough of three APIs for the real openai and anthropic SDKs to drive it:
OpenAI Chat Completions, Responses, Files and Batch; Anthropic Messages and Message Batches.
It is an asyncio HTTP/1.1 server with keep-alive (the SDKs pool connections), written on the
standard library only, so a slow reply is an `asyncio.sleep` and never blocks another request.

What it answers, in order of precedence:

1. a script of `Planned` answers, queued with `plan()`: exact, for tests of one failure;
2. the requests-per-minute limit of `FakeConfig.rpm` (429 with retry-after);
3. failures injected at random in the shares `FakeConfig` gives (429, 500, 529, a hang, a
   malformed body), drawn at random; with a seed, each request's fate depends only on the
   seed, its body and how many identical bodies came before it, so a test is repeatable even
   when concurrent requests arrive in a different order;
4. a reply, the text of `reply(request_json)`, with token counts estimated from the text.

An Anthropic request that forces a tool (tool_choice {"type": "tool"}) gets the reply as
that tool's call, its input the reply text read as a JSON object, as the real API answers a
structured-output request; a reply that is not a JSON object comes back as text, as from a
model that did not follow the tool.

The script, the limit and the injected failures apply to model calls only (chat completions,
responses, messages); the file and batch routes always work. Batch items are answered by the
same `reply`, and `FakeConfig` says what share of them fail or expire.

Run it in a test with `with FakeProvider() as fake:` (a background thread with its own event
loop), or as a process with `uv run manage.py fake_provider` or `python -m runs.fake_server`.
`GET /stats` returns the counters; `GET /config` and `POST /config` (a JSON object of the
fields to change) read and change the behaviour of a running server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime
import hashlib
import json
import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

ReplyFunction = Callable[[dict], str]

DEFAULT_REPLY_TEXT = "A fake answer."
RATE_WINDOW_SECONDS = 60.0
MODEL_ROUTES = ("/v1/chat/completions", "/v1/responses", "/v1/messages")
ANTHROPIC_ROUTES = ("/v1/messages",)
# Cut mid-object, so that every JSON parser refuses it.
MALFORMED_BODY = b'{"id": "fake", "object": "chat.completion", "choices": [{"index": 0, "mess'
# Keys whose string values are the text a model reads, in all three request shapes.
TEXT_KEYS = frozenset({"content", "text", "system", "input", "instructions", "prompt"})


def default_reply(request: dict) -> str:
    """The same text for every request, so that runs against the fake are deterministic."""
    return DEFAULT_REPLY_TEXT


@dataclass
class FakeConfig:
    """How the fake behaves. Shares are fractions of model calls, drawn independently of the
    script; together the five error shares must not exceed 1."""

    latency: float = field(default=0.0, metadata={"help": "Seconds before each model reply."})
    jitter: float = field(
        default=0.0,
        metadata={"help": "Latency is drawn uniformly from latency +/- jitter (at least 0)."},
    )
    rpm: int | None = field(
        default=None,
        metadata={
            "type": int,
            "help": "Requests per minute allowed on the model routes, over a sliding 60 s "
            "window; more get 429 with the seconds until a slot frees. None: no limit.",
        },
    )
    error_rate_429: float = field(
        default=0.0, metadata={"help": "Share of model calls refused with 429 (rate limited)."}
    )
    retry_after: float = field(
        default=1.0,
        metadata={"help": "Seconds an injected 429 asks for (retry-after and retry-after-ms)."},
    )
    error_rate_500: float = field(
        default=0.0, metadata={"help": "Share of model calls that fail with 500."}
    )
    error_rate_529: float = field(
        default=0.0,
        metadata={"help": "Share of model calls that fail with 529 (Anthropic's overloaded)."},
    )
    timeout_rate: float = field(
        default=0.0,
        metadata={"help": "Share of model calls held open for hang_seconds, then dropped."},
    )
    hang_seconds: float = field(
        default=30.0,
        metadata={"help": "How long a hanging call is held before the connection is dropped."},
    )
    malformed_rate: float = field(
        default=0.0, metadata={"help": "Share of model calls answered 200 with invalid JSON."}
    )
    tokens_per_word: float = field(
        default=1.3,
        metadata={"help": "Token counts are words * this, rounded up, so costs are plausible."},
    )
    batch_delay: float = field(
        default=0.5, metadata={"help": "Seconds before a batch ends after it is created."}
    )
    batch_error_rate: float = field(
        default=0.0, metadata={"help": "Share of batch items that end with an error."}
    )
    batch_expired_share: float = field(
        default=0.0,
        metadata={
            "help": "Share of batch items left unfinished; above 0 an OpenAI batch ends "
            "'expired' with partial results and those Anthropic items are 'expired'."
        },
    )
    seed: int | None = field(
        default=None,
        metadata={
            "type": int,
            "help": "Makes the injected failures, jitter and batch fates repeatable.",
        },
    )
    record_requests: bool = field(
        default=True,
        metadata={"help": "Keep every request in .requests (turn off for long benchmarks)."},
    )

    def __post_init__(self) -> None:
        shares = {
            "error_rate_429": self.error_rate_429,
            "error_rate_500": self.error_rate_500,
            "error_rate_529": self.error_rate_529,
            "timeout_rate": self.timeout_rate,
            "malformed_rate": self.malformed_rate,
            "batch_error_rate": self.batch_error_rate,
            "batch_expired_share": self.batch_expired_share,
        }
        for name, share in shares.items():
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {share}")
        if sum(list(shares.values())[:5]) > 1.0 + 1e-9:
            raise ValueError("the shares of injected errors add up to more than 1")
        if self.rpm is not None and self.rpm < 1:
            raise ValueError(f"rpm must be at least 1 or None, not {self.rpm}")

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Planned:
    """One scripted answer to a model call: an HTTP status with a body, or (status 200 and
    `text`) a model reply in the shape of the route that was called."""

    status: int = 200
    text: str | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class FakeRequest:
    """One parsed HTTP request."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    keep_alive: bool = True

    def json(self) -> Any:
        return json.loads(self.body) if self.body else {}


@dataclass
class FakeResponse:
    """What to send back; `hang` means: say nothing for that many seconds, then hang up."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    hang: float | None = None


class ClientError(Exception):
    """A request the fake refuses with a 4xx, as the real API would."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class RateWindow:
    """A sliding 60-second log of admitted requests. A request is admitted while fewer than
    `rpm` were admitted in the last 60 s; a refused one is told the exact time until the
    oldest admission leaves the window. Refusals do not enter the log."""

    rpm: int
    admitted: deque[float] = field(default_factory=deque)

    def admit(self, now: float) -> float | None:
        """None when admitted, else the seconds to wait."""
        while self.admitted and self.admitted[0] <= now - RATE_WINDOW_SECONDS:
            self.admitted.popleft()
        if len(self.admitted) < self.rpm:
            self.admitted.append(now)
            return None
        return self.admitted[0] + RATE_WINDOW_SECONDS - now

    def headers(self, path: str, now: float) -> dict[str, str]:
        """The request budget, as OpenAI (x-ratelimit-*) or Anthropic (anthropic-ratelimit-*)
        report it. Reset is the time until the oldest admission leaves the window, when the
        next request will be taken."""
        remaining = max(0, self.rpm - len(self.admitted))
        reset = max(0.0, self.admitted[0] + RATE_WINDOW_SECONDS - now) if self.admitted else 0.0
        if path in ANTHROPIC_ROUTES:
            moment = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=reset)
            return {
                "anthropic-ratelimit-requests-limit": str(self.rpm),
                "anthropic-ratelimit-requests-remaining": str(remaining),
                "anthropic-ratelimit-requests-reset": moment.isoformat().replace("+00:00", "Z"),
            }
        return {
            "x-ratelimit-limit-requests": str(self.rpm),
            "x-ratelimit-remaining-requests": str(remaining),
            "x-ratelimit-reset-requests": f"{math.ceil(reset * 1000)}ms",
        }


def estimate_tokens(text: str, tokens_per_word: float) -> int:
    """About 1.3 tokens per word for English, rounded up: enough to make costs plausible."""
    return math.ceil(len(text.split()) * tokens_per_word)


def request_text(value: Any) -> Iterator[str]:
    """Every text a model would read in a chat, responses or messages request body."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in TEXT_KEYS and isinstance(item, str):
                yield item
            elif isinstance(item, dict | list):
                yield from request_text(item)
    elif isinstance(value, list):
        for item in value:
            yield from request_text(item)


def forced_tool(request: dict) -> str | None:
    """The tool an Anthropic request forces (tool_choice {"type": "tool", "name": ...})."""
    choice = request.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "tool":
        return choice.get("name")
    return None


def json_object_of(text: str) -> dict | None:
    """The reply text as a JSON object, or None when it is not one."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _to_json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _iso(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).isoformat()


def _reason(status: int) -> str:
    if status == 529:
        return "Overloaded"
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "invalid_request_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
OPENAI_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    404: ("invalid_request_error", "not_found"),
    409: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
}


def error_body(path: str, status: int, message: str) -> dict:
    """An error in the shape of the provider whose route was called."""
    if path.startswith(ANTHROPIC_ROUTES):
        kind = ANTHROPIC_ERROR_TYPES.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}}
    kind, code = OPENAI_ERROR_TYPES.get(status, ("server_error", None))
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


class FakeServer:
    """The fake provider as an asyncio server: `await start()` on a running loop, then
    `await stop()`. `FakeProvider` runs one on a thread for tests."""

    def __init__(
        self,
        config: FakeConfig | None = None,
        reply: ReplyFunction | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.host = host
        self.port = port
        self.reply = reply or default_reply
        self.script: deque[Planned] = deque()
        self.requests: list[dict] = []
        self._config = config or FakeConfig()
        self._rng = random.Random(self._config.seed)
        self._seen: dict[bytes, int] = {}
        self._window = RateWindow(self._config.rpm) if self._config.rpm else None
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task] = set()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._ids = 0
        self.files: dict[str, dict] = {}
        self.openai_batches: dict[str, dict] = {}
        self.anthropic_batches: dict[str, dict] = {}
        self._batch_items: dict[str, list[dict]] = {}
        self._anthropic_results: dict[str, bytes] = {}
        self.reset_counters()

    # Configuration and counters -------------------------------------------------------

    @property
    def config(self) -> FakeConfig:
        return self._config

    @config.setter
    def config(self, config: FakeConfig) -> None:
        """A new config takes effect from the next request; it reseeds the RNG and restarts
        the rate window so that a test can rely on both."""
        self._config = config
        self._rng = random.Random(config.seed)
        self._seen = {}
        self._window = RateWindow(config.rpm) if config.rpm else None

    def plan(self, *answers: Planned) -> None:
        """Queue answers for the next model calls, ahead of everything the config does.
        Safe from another thread: deque.extend is atomic and the loop only pops."""
        self.script.extend(answers)

    def reset_counters(self) -> None:
        self.counts: dict[str, int] = {"requests": 0, "planned": 0, "rate_limited": 0}
        self.counts_by_route: dict[str, int] = {}
        self.counts_by_status: dict[int, int] = {}
        self.injected: dict[str, int] = {
            "429": 0,
            "500": 0,
            "529": 0,
            "timeout": 0,
            "malformed": 0,
        }

    def stats(self) -> dict[str, Any]:
        """Counters since start: `rate_limited` are the RPM limiter's 429s, `injected` the
        failures drawn from the configured shares, `planned` the scripted answers."""
        return {
            **self.counts,
            "by_route": dict(self.counts_by_route),
            "by_status": {str(status): n for status, n in dict(self.counts_by_status).items()},
            "injected": dict(self.injected),
        }

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def openai_url(self) -> str:
        return f"{self.base_url}/v1"

    @property
    def anthropic_url(self) -> str:
        return self.base_url

    # Life cycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve_connection, self.host, self.port, limit=1 << 20, backlog=1024
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Close the listener, hang up on every open connection and drop pending batches."""
        if self._server is not None:
            self._server.close()
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        connections = list(self._connections)
        for task in connections:
            task.cancel()
        await asyncio.gather(*connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    # HTTP ---------------------------------------------------------------------------------

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while True:
                request = await self._read_request(reader, writer)
                if request is None:
                    break
                response = await self._answer(request)
                if response.hang is not None:
                    await asyncio.sleep(response.hang)
                    break
                writer.write(self._encode(response, request.keep_alive))
                if writer.transport.get_write_buffer_size() > 1 << 16:
                    await writer.drain()
                if not request.keep_alive:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the client hung up
        except ValueError:
            pass  # not HTTP: hang up rather than guess
        except asyncio.CancelledError:
            pass  # stop() hangs up on every connection
        finally:
            self._connections.discard(task)
            writer.close()

    async def _read_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> FakeRequest | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        connection = headers.get("connection", "").lower()
        keep_alive = connection == "keep-alive" or (version == "HTTP/1.1" and connection != "close")
        if headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # curl waits a second without it
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = await self._read_chunked(reader)
        else:
            length = int(headers.get("content-length") or 0)
            body = await reader.readexactly(length) if length else b""
        path = target.split("?", 1)[0]
        return FakeRequest(method, path, headers, body, keep_alive)

    @staticmethod
    async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
        chunks = []
        while True:
            size = int((await reader.readline()).split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)

    @staticmethod
    def _encode(response: FakeResponse, keep_alive: bool) -> bytes:
        lines = [
            f"HTTP/1.1 {response.status} {_reason(response.status)}",
            f"content-type: {response.content_type}",
            f"content-length: {len(response.body)}",
            "connection: keep-alive" if keep_alive else "connection: close",
        ]
        lines.extend(f"{name}: {value}" for name, value in response.headers.items())
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + response.body

    # Routing ------------------------------------------------------------------------------

    async def _answer(self, request: FakeRequest) -> FakeResponse:
        route, ids = self._route(request.path)
        if route in ("/stats", "/config"):
            return self._control(request, route)
        self.counts["requests"] += 1
        self.counts_by_route[route] = self.counts_by_route.get(route, 0) + 1
        try:
            is_upload = request.headers.get("content-type", "").startswith("multipart/")
            parsed = {} if is_upload else request.json()
        except ValueError:
            parsed = None
        if self._config.record_requests:
            self.requests.append(
                {
                    "method": request.method,
                    "path": request.path,
                    "json": parsed if parsed is not None else {},
                    "headers": request.headers,
                }
            )
        try:
            if parsed is None:
                raise ClientError(400, "The request body is not valid JSON.")
            response = await self._dispatch(request, route, ids, parsed)
        except ClientError as error:
            response = self._error(request.path, error.status, str(error))
        except Exception as error:  # a broken reply function must not kill the connection
            response = self._error(request.path, 500, f"The fake failed: {error!r}")
        if response.hang is None:
            status = response.status
            self.counts_by_status[status] = self.counts_by_status.get(status, 0) + 1
        return response

    @staticmethod
    def _route(path: str) -> tuple[str, list[str]]:
        """The route template of a path, e.g. /v1/batches/{id}, and the ids in it."""
        parts = path.rstrip("/").split("/")
        ids = []
        for index, part in enumerate(parts):
            if part.startswith(("batch_", "file-", "msgbatch_")):
                ids.append(part)
                parts[index] = "{id}"
        return "/".join(parts) or "/", ids

    async def _dispatch(
        self, request: FakeRequest, route: str, ids: list[str], body: dict
    ) -> FakeResponse:
        method = request.method
        if route in MODEL_ROUTES:
            if method != "POST":
                raise ClientError(405, f"{method} is not allowed on {route}")
            return await self._model_call(request.path, body, request.body)
        handlers: dict[tuple[str, str], Callable[[], FakeResponse]] = {
            ("POST", "/v1/files"): lambda: self._upload_file(request),
            ("GET", "/v1/files/{id}"): lambda: self._ok(self._file(ids[0])["object"]),
            ("GET", "/v1/files/{id}/content"): lambda: self._file_content(ids[0]),
            ("POST", "/v1/batches"): lambda: self._create_openai_batch(body),
            ("GET", "/v1/batches/{id}"): lambda: self._ok(self._openai_batch(ids[0])),
            ("POST", "/v1/batches/{id}/cancel"): lambda: self._cancel_openai_batch(ids[0]),
            ("POST", "/v1/messages/batches"): lambda: self._create_anthropic_batch(body),
            ("GET", "/v1/messages/batches/{id}"): lambda: self._ok(self._anthropic_batch(ids[0])),
            ("GET", "/v1/messages/batches/{id}/results"): lambda: self._anthropic_results_of(
                ids[0]
            ),
            ("POST", "/v1/messages/batches/{id}/cancel"): lambda: self._cancel_anthropic_batch(
                ids[0]
            ),
        }
        handler = handlers.get((method, route))
        if handler is None:
            raise ClientError(404, f"No route {method} {request.path} on the fake provider.")
        return handler()

    def _control(self, request: FakeRequest, route: str) -> FakeResponse:
        """GET /stats, GET /config, POST /config: not counted, not recorded."""
        if route == "/stats":
            return self._ok(self.stats())
        if request.method == "POST":
            try:
                self.config = dataclasses.replace(self._config, **request.json())
            except (TypeError, ValueError) as error:
                return self._error(request.path, 400, str(error))
        return self._ok(self._config.as_dict())

    @staticmethod
    def _ok(value: Any) -> FakeResponse:
        return FakeResponse(200, _to_json(value))

    @staticmethod
    def _error(
        path: str, status: int, message: str, headers: dict[str, str] | None = None
    ) -> FakeResponse:
        return FakeResponse(status, _to_json(error_body(path, status, message)), headers or {})

    def _next_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}{self._ids:06d}"

    # Model calls --------------------------------------------------------------------------

    def _draws_for(self, body: bytes) -> random.Random:
        """The random source for one model call. Seeded, it is derived from the body and its
        occurrence, not from arrival order, which concurrency makes arbitrary."""
        if self._config.seed is None:
            return self._rng
        digest = hashlib.blake2b(body, digest_size=12).digest()
        occurrence = self._seen.get(digest, 0)
        self._seen[digest] = occurrence + 1
        return random.Random(f"{self._config.seed}:{digest.hex()}:{occurrence}")

    async def _model_call(self, path: str, request: dict, body: bytes) -> FakeResponse:
        response = await self._answer_model_call(path, request, body)
        if self._window is not None:
            response.headers.update(self._window.headers(path, time.monotonic()))
        return response

    async def _answer_model_call(self, path: str, request: dict, body: bytes) -> FakeResponse:
        if self.script:
            self.counts["planned"] += 1
            return await self._planned(path, request, self.script.popleft())
        config = self._config
        if self._window is not None:
            wait = self._window.admit(time.monotonic())
            if wait is not None:
                self.counts["rate_limited"] += 1
                return self._rate_limited(path, wait, "Rate limit reached for requests per min.")
        rng = self._draws_for(body)
        draw = rng.random()
        latency = config.latency
        if config.jitter:
            latency = max(0.0, latency + rng.uniform(-config.jitter, config.jitter))
        for kind, share in (
            ("429", config.error_rate_429),
            ("500", config.error_rate_500),
            ("529", config.error_rate_529),
            ("timeout", config.timeout_rate),
            ("malformed", config.malformed_rate),
        ):
            if draw < share:
                self.injected[kind] += 1
                return await self._injected(kind, path, latency)
            draw -= share
        if latency:
            await asyncio.sleep(latency)
        return self._ok(self._reply_body(path, request, self.reply(request)))

    async def _planned(self, path: str, request: dict, planned: Planned) -> FakeResponse:
        if planned.delay:
            await asyncio.sleep(planned.delay)
        if planned.status != 200 and planned.body is None:
            return self._error(path, planned.status, "planned failure", planned.headers)
        if planned.body is not None:
            body = planned.body
            data = body.encode() if isinstance(body, str) else body
            if not isinstance(data, bytes):
                data = _to_json(data)
            return FakeResponse(planned.status, data, dict(planned.headers))
        text = planned.text if planned.text is not None else self.reply(request)
        reply = self._reply_body(path, request, text)
        return FakeResponse(200, _to_json(reply), dict(planned.headers))

    def _rate_limited(self, path: str, wait: float, message: str) -> FakeResponse:
        headers = {
            "retry-after": str(math.ceil(wait)),
            "retry-after-ms": str(math.ceil(wait * 1000)),
        }
        return self._error(path, 429, message, headers)

    async def _injected(self, kind: str, path: str, latency: float) -> FakeResponse:
        if kind == "429":
            return self._rate_limited(path, self._config.retry_after, "Injected rate limit.")
        if kind == "timeout":
            return FakeResponse(0, hang=self._config.hang_seconds)
        if latency:
            await asyncio.sleep(latency)
        if kind == "malformed":
            return FakeResponse(200, MALFORMED_BODY)
        if kind == "529":
            return self._error(ANTHROPIC_ROUTES[0], 529, "Overloaded")
        return self._error(path, 500, "Injected server error.")

    def _usage(self, request: dict, text: str) -> tuple[int, int]:
        per_word = self._config.tokens_per_word
        read = " ".join(request_text(request))
        return estimate_tokens(read, per_word), estimate_tokens(text, per_word)

    def _reply_body(self, path: str, request: dict, text: str) -> dict:
        """A successful reply in the shape of the route that was called."""
        model = request.get("model") or "fake-model"
        input_tokens, output_tokens = self._usage(request, text)
        if path.endswith("/chat/completions"):
            return {
                "id": self._next_id("chatcmpl-"),
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text, "refusal": None},
                        "finish_reason": "stop",
                        "logprobs": None,
                    }
                ],
                "usage": {
                    "prompt_tokens": input_tokens,
                    "completion_tokens": output_tokens,
                    "total_tokens": input_tokens + output_tokens,
                },
            }
        if path.endswith("/responses"):
            now = time.time()
            return {
                "id": self._next_id("resp_"),
                "object": "response",
                "created_at": now,
                "completed_at": now,
                "status": "completed",
                "model": model,
                "output": [
                    {
                        "type": "message",
                        "id": self._next_id("msg_"),
                        "status": "completed",
                        "role": "assistant",
                        "content": [{"type": "output_text", "text": text, "annotations": []}],
                    }
                ],
                "parallel_tool_calls": True,
                "tool_choice": "auto",
                "tools": [],
                "usage": {
                    "input_tokens": input_tokens,
                    "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                    "output_tokens": output_tokens,
                    "output_tokens_details": {"reasoning_tokens": 0},
                    "total_tokens": input_tokens + output_tokens,
                },
            }
        tool = forced_tool(request)
        tool_input = json_object_of(text) if tool else None
        if tool and tool_input is not None:
            call_id = self._next_id("toolu_")
            content: list[dict] = [
                {"type": "tool_use", "id": call_id, "name": tool, "input": tool_input}
            ]
            stop_reason = "tool_use"
        else:
            content, stop_reason = [{"type": "text", "text": text}], "end_turn"
        return {
            "id": self._next_id("msg_"),
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
        }

    # Batches: shared ----------------------------------------------------------------------

    def _settle(self, items: list[dict]) -> list[tuple[dict, str]]:
        """Decide each item's fate (succeeded, errored or expired) and shuffle the order, as
        both providers write results in no particular order."""
        config = self._config
        expired = set(
            self._rng.sample(range(len(items)), round(len(items) * config.batch_expired_share))
        )
        fates = []
        for index, item in enumerate(items):
            if index in expired:
                fates.append((item, "expired"))
            elif self._rng.random() < config.batch_error_rate:
                fates.append((item, "errored"))
            else:
                fates.append((item, "succeeded"))
        self._rng.shuffle(fates)
        return fates

    def _schedule(self, batch_id: str, finish: Callable[[str], None]) -> None:
        loop = asyncio.get_running_loop()
        self._timers[batch_id] = loop.call_later(self._config.batch_delay, finish, batch_id)

    def _unschedule(self, batch_id: str) -> None:
        timer = self._timers.pop(batch_id, None)
        if timer is not None:
            timer.cancel()

    # OpenAI files and batches -------------------------------------------------------------

    def _upload_file(self, request: FakeRequest) -> FakeResponse:
        fields = parse_multipart(request)
        if "file" not in fields:
            raise ClientError(400, "Missing the 'file' part of the upload.")
        filename, content = fields["file"]
        purpose = fields.get("purpose", (None, b"batch"))[1].decode()
        file_id = self._next_id("file-")
        self.files[file_id] = {
            "object": self._file_object(file_id, filename or "upload.jsonl", purpose, content),
            "content": content,
        }
        return self._ok(self.files[file_id]["object"])

    @staticmethod
    def _file_object(file_id: str, filename: str, purpose: str, content: bytes) -> dict:
        return {
            "id": file_id,
            "object": "file",
            "bytes": len(content),
            "created_at": int(time.time()),
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
        }

    def _file(self, file_id: str) -> dict:
        if file_id not in self.files:
            raise ClientError(404, f"No such File object: {file_id}")
        return self.files[file_id]

    def _file_content(self, file_id: str) -> FakeResponse:
        return FakeResponse(200, self._file(file_id)["content"], content_type="application/jsonl")

    def _store_output(self, batch_id: str, kind: str, lines: list[dict]) -> str | None:
        if not lines:
            return None
        content = b"".join(_to_json(line) + b"\n" for line in lines)
        file_id = self._next_id("file-")
        name = f"{batch_id}_{kind}.jsonl"
        self.files[file_id] = {
            "object": self._file_object(file_id, name, "batch_output", content),
            "content": content,
        }
        return file_id

    def _openai_batch(self, batch_id: str) -> dict:
        if batch_id not in self.openai_batches:
            raise ClientError(404, f"No batch found with id '{batch_id}'.")
        return self.openai_batches[batch_id]

    def _create_openai_batch(self, body: dict) -> FakeResponse:
        for name in ("input_file_id", "endpoint", "completion_window"):
            if not body.get(name):
                raise ClientError(400, f"Missing required parameter: '{name}'.")
        content = self._file(body["input_file_id"])["content"]
        now = int(time.time())
        batch_id = self._next_id("batch_")
        batch = {
            "id": batch_id,
            "object": "batch",
            "endpoint": body["endpoint"],
            "errors": None,
            "input_file_id": body["input_file_id"],
            "completion_window": body["completion_window"],
            "status": "in_progress",
            "output_file_id": None,
            "error_file_id": None,
            "created_at": now,
            "in_progress_at": now,
            "expires_at": now + 24 * 3600,
            "finalizing_at": None,
            "completed_at": None,
            "failed_at": None,
            "expired_at": None,
            "cancelling_at": None,
            "cancelled_at": None,
            "request_counts": {"total": 0, "completed": 0, "failed": 0},
            "metadata": body.get("metadata"),
        }
        try:
            items = [json.loads(line) for line in content.splitlines() if line.strip()]
            problems = [
                f"line {n}: needs custom_id, method, url and body"
                for n, item in enumerate(items, 1)
                if not all(key in item for key in ("custom_id", "method", "url", "body"))
            ]
        except ValueError:
            items, problems = [], ["the input file is not JSONL"]
        self.openai_batches[batch_id] = batch
        if problems:
            batch.update(status="failed", failed_at=now, in_progress_at=None)
            batch["errors"] = {
                "object": "list",
                "data": [{"code": "invalid_request", "message": p} for p in problems[:10]],
            }
            return self._ok(batch)
        batch["request_counts"]["total"] = len(items)
        self._batch_items[batch_id] = items
        self._schedule(batch_id, self._finish_openai_batch)
        return self._ok(batch)

    def _finish_openai_batch(self, batch_id: str) -> None:
        self._timers.pop(batch_id, None)
        batch = self.openai_batches[batch_id]
        output, errors = [], []
        input_tokens = output_tokens = 0
        for item, fate in self._settle(self._batch_items.pop(batch_id)):
            line: dict[str, Any] = {
                "id": self._next_id("batch_req_"),
                "custom_id": item["custom_id"],
            }
            request_id = self._next_id("req_")
            if fate == "expired":
                line.update(
                    response=None,
                    error={
                        "code": "batch_expired",
                        "message": "This request could not be executed before the "
                        "completion window expired.",
                    },
                )
                errors.append(line)
                continue
            path = item["url"]
            if fate == "succeeded" and path in MODEL_ROUTES[:2]:
                request = item["body"] if isinstance(item["body"], dict) else {}
                reply = self._reply_body(path, request, self.reply(request))
                usage = reply["usage"]
                input_tokens += usage.get("prompt_tokens", usage.get("input_tokens", 0))
                output_tokens += usage.get("completion_tokens", usage.get("output_tokens", 0))
                line.update(
                    response={"status_code": 200, "request_id": request_id, "body": reply},
                    error=None,
                )
                output.append(line)
                continue
            status, message = (
                (500, "Injected batch item failure.")
                if fate == "errored"
                else (400, f"The fake does not batch {path}.")
            )
            line.update(
                response={
                    "status_code": status,
                    "request_id": request_id,
                    "body": error_body(path, status, message),
                },
                error=None,
            )
            errors.append(line)
        now = int(time.time())
        expired = any(line.get("error") for line in errors)
        batch.update(
            status="expired" if expired else "completed",
            finalizing_at=now,
            output_file_id=self._store_output(batch_id, "output", output),
            error_file_id=self._store_output(batch_id, "error", errors),
            request_counts={
                "total": len(output) + len(errors),
                "completed": len(output),
                "failed": len(errors),
            },
            usage={
                "input_tokens": input_tokens,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": output_tokens,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": input_tokens + output_tokens,
            },
        )
        batch["expired_at" if expired else "completed_at"] = now

    def _cancel_openai_batch(self, batch_id: str) -> FakeResponse:
        batch = self._openai_batch(batch_id)
        if batch["status"] not in ("validating", "in_progress"):
            raise ClientError(409, f"Cannot cancel a batch with status '{batch['status']}'.")
        self._unschedule(batch_id)
        self._batch_items.pop(batch_id, None)
        batch.update(status="cancelling", cancelling_at=int(time.time()))
        answer = self._ok(batch)
        batch.update(status="cancelled", cancelled_at=int(time.time()))
        return answer

    # Anthropic message batches ------------------------------------------------------------

    def _anthropic_batch(self, batch_id: str) -> dict:
        if batch_id not in self.anthropic_batches:
            raise ClientError(404, f"No message batch with id {batch_id}.")
        return self.anthropic_batches[batch_id]

    def _create_anthropic_batch(self, body: dict) -> FakeResponse:
        items = body.get("requests")
        if not isinstance(items, list) or not items:
            raise ClientError(400, "requests: a non-empty list is required.")
        for item in items:
            if not isinstance(item, dict) or "custom_id" not in item or "params" not in item:
                raise ClientError(400, "requests: each needs custom_id and params.")
        now = time.time()
        batch_id = self._next_id("msgbatch_")
        self.anthropic_batches[batch_id] = {
            "id": batch_id,
            "type": "message_batch",
            "processing_status": "in_progress",
            "request_counts": {
                "processing": len(items),
                "succeeded": 0,
                "errored": 0,
                "canceled": 0,
                "expired": 0,
            },
            "created_at": _iso(now),
            "expires_at": _iso(now + 24 * 3600),
            "ended_at": None,
            "cancel_initiated_at": None,
            "archived_at": None,
            "results_url": None,
        }
        self._batch_items[batch_id] = items
        self._schedule(batch_id, self._finish_anthropic_batch)
        return self._ok(self.anthropic_batches[batch_id])

    def _finish_anthropic_batch(self, batch_id: str, *, canceled: bool = False) -> None:
        self._timers.pop(batch_id, None)
        batch = self.anthropic_batches[batch_id]
        items = self._batch_items.pop(batch_id)
        fates = [(item, "canceled") for item in items] if canceled else self._settle(items)
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        lines = []
        for item, fate in fates:
            counts[fate] += 1
            result: dict[str, Any] = {"type": fate}
            if fate == "succeeded":
                params = item["params"] if isinstance(item["params"], dict) else {}
                result["message"] = self._reply_body("/v1/messages", params, self.reply(params))
            elif fate == "errored":
                result["error"] = error_body("/v1/messages", 500, "Injected batch item failure.")
            lines.append({"custom_id": item["custom_id"], "result": result})
        self._anthropic_results[batch_id] = b"".join(_to_json(line) + b"\n" for line in lines)
        batch.update(
            processing_status="ended",
            request_counts=counts,
            ended_at=_iso(time.time()),
            results_url=f"{self.base_url}/v1/messages/batches/{batch_id}/results",
        )

    def _anthropic_results_of(self, batch_id: str) -> FakeResponse:
        self._anthropic_batch(batch_id)
        if batch_id not in self._anthropic_results:
            raise ClientError(404, f"Message batch {batch_id} has not ended yet.")
        return FakeResponse(
            200, self._anthropic_results[batch_id], content_type="application/x-jsonl"
        )

    def _cancel_anthropic_batch(self, batch_id: str) -> FakeResponse:
        batch = self._anthropic_batch(batch_id)
        if batch["processing_status"] != "in_progress":
            return self._ok(batch)
        self._unschedule(batch_id)
        batch.update(processing_status="canceling", cancel_initiated_at=_iso(time.time()))
        answer = self._ok(batch)
        self._finish_anthropic_batch(batch_id, canceled=True)
        return answer


def parse_multipart(request: FakeRequest) -> dict[str, tuple[str | None, bytes]]:
    """The parts of a multipart/form-data body by field name: (filename, content)."""
    content_type = request.headers.get("content-type", "")
    boundary = next(
        (p.split("=", 1)[1].strip('"') for p in content_type.split(";") if "boundary=" in p),
        None,
    )
    if boundary is None:
        raise ClientError(400, "Expected a multipart/form-data upload.")
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in request.body.split(b"--" + boundary.encode()):
        head, separator, content = part.partition(b"\r\n\r\n")
        if not separator:
            continue
        disposition = next(
            (
                line
                for line in head.decode("latin-1").split("\r\n")
                if line.lower().startswith("content-disposition")
            ),
            "",
        )
        params = {}
        for item in disposition.split(";")[1:]:
            key, _, value = item.strip().partition("=")
            params[key.lower()] = value.strip('"')
        if "name" in params:
            fields[params["name"]] = (params.get("filename"), content.removesuffix(b"\r\n"))
    return fields


class FakeProvider(FakeServer):
    """The fake on a background thread with its own event loop, for tests:
    `with FakeProvider(config=FakeConfig(...), reply=...) as fake:`, then point the SDKs at
    `fake.openai_url` / `fake.anthropic_url`."""

    def __init__(
        self,
        config: FakeConfig | None = None,
        reply: ReplyFunction | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(config, reply, host=host, port=port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> FakeProvider:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.start(), self._loop).result(timeout=10)
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(TimeoutError):
            asyncio.run_coroutine_threadsafe(self.stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def stats(self) -> dict[str, Any]:
        """Read on the server's loop, so that the counters are consistent with each other."""
        if threading.current_thread() is self._thread or not self._loop.is_running():
            return super().stats()
        return asyncio.run_coroutine_threadsafe(self._stats(), self._loop).result(timeout=10)

    async def _stats(self) -> dict[str, Any]:
        return FakeServer.stats(self)


# Command line -----------------------------------------------------------------------------


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """One --option per FakeConfig field (error_rate_429 -> --error-rate-429), except
    record_requests: nobody can read the requests of a server in another process."""
    for config_field in dataclasses.fields(FakeConfig):
        if config_field.name == "record_requests":
            continue
        kind = config_field.metadata.get("type") or type(config_field.default)
        parser.add_argument(
            "--" + config_field.name.replace("_", "-"),
            type=kind,
            default=None,
            help=f"{config_field.metadata['help']} Default: {config_field.default}.",
        )


def config_from_options(options: dict[str, Any], **defaults: Any) -> FakeConfig:
    """A FakeConfig from parsed options; an option not given keeps `defaults` or the field's."""
    values = dict(defaults)
    for config_field in dataclasses.fields(FakeConfig):
        if options.get(config_field.name) is not None:
            values[config_field.name] = options[config_field.name]
    return FakeConfig(**values)


def describe(server: FakeServer) -> str:
    return (
        f"Fake model provider on {server.base_url}\n"
        f"  OpenAI base URL:    {server.openai_url}\n"
        f"  Anthropic base URL: {server.anthropic_url}\n"
        f"  Counters:           {server.base_url}/stats\n"
        f"  Behaviour:          {json.dumps(server.config.as_dict())}"
    )


async def serve(config: FakeConfig, host: str, port: int, announce: Callable[[str], Any]) -> None:
    """Serve until cancelled (Ctrl-C), saying where once the port is bound."""
    server = FakeServer(config, host=host, port=port)
    await server.start()
    announce(describe(server))
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m runs.fake_server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    add_config_arguments(parser)
    options = vars(parser.parse_args(argv))
    try:
        # A long-running server would otherwise keep every request in memory.
        config = config_from_options(options, record_requests=False)
    except ValueError as error:
        parser.error(str(error))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(config, options["host"], options["port"], print))


if __name__ == "__main__":
    main()
