"""A fake model provider on 127.0.0.1 that speaks OpenAI Chat Completions and Anthropic
Messages, so the real SDKs can be tested without a network.

Replies come from a script of planned answers (status, body, headers, delay) and, once the
script is used up, from a function of the request. Every request is recorded.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Planned:
    """One planned answer: an HTTP status with a body, or (status 200, text) a model reply."""

    status: int = 200
    text: str | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


def _openai_completion(model: str, text: str) -> dict:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
    }


def _anthropic_message(model: str, text: str) -> dict:
    return {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 13, "output_tokens": 5},
    }


def _error_body(status: int, message: str) -> dict:
    return {"error": {"type": "api_error", "message": message, "code": str(status)}}


class FakeProvider:
    """Start with `with FakeProvider() as fake:`; point SDKs at fake.openai_url / anthropic_url."""

    def __init__(self, reply: Callable[[dict], str] | None = None) -> None:
        self.reply = reply or (lambda request: "A fake answer.")
        self.script: deque[Planned] = deque()
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def openai_url(self) -> str:
        return f"{self.base_url}/v1"

    @property
    def anthropic_url(self) -> str:
        return self.base_url

    def plan(self, *answers: Planned) -> None:
        with self._lock:
            self.script.extend(answers)

    def __enter__(self) -> FakeProvider:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _next(self) -> Planned | None:
        with self._lock:
            return self.script.popleft() if self.script else None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return None

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                try:
                    request = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    request = {}
                with fake._lock:
                    fake.requests.append(
                        {
                            "path": self.path,
                            "json": request,
                            "headers": {k.lower(): v for k, v in self.headers.items()},
                        }
                    )
                planned = fake._next() or Planned()
                if planned.delay:
                    time.sleep(planned.delay)
                model = request.get("model", "fake-model")
                if planned.status != 200:
                    body = planned.body or _error_body(planned.status, "planned failure")
                elif planned.body is not None:
                    body = planned.body
                else:
                    text = planned.text if planned.text is not None else fake.reply(request)
                    if self.path.endswith("/chat/completions"):
                        body = _openai_completion(model, text)
                    elif self.path.endswith("/messages"):
                        body = _anthropic_message(model, text)
                    else:
                        planned, body = Planned(status=404), _error_body(404, "no such route")
                payload = body if isinstance(body, bytes | str) else json.dumps(body)
                data = payload.encode() if isinstance(payload, str) else payload
                self.send_response(planned.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for name, value in planned.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        return Handler
