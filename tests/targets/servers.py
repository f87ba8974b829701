"""Local servers speaking real HTTP for target tests: plain/TLS, OpenAI-compatible, n8n API v1."""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

Route = Callable[["Handler"], tuple[int, dict[str, str], bytes]]


class Handler(BaseHTTPRequestHandler):
    """Dispatches to ``server.routes[path]``; records each request."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *_args: Any) -> None:  # keep test output clean
        pass

    @property
    def query(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}

    def body_json(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"null")

    def _handle(self) -> None:
        server: LocalServer = self.server  # type: ignore[assignment]
        path = urlsplit(self.path).path
        server.requests.append((self.command, self.path, dict(self.headers)))
        route = server.routes.get(path)
        if route is None:
            code, headers, body = 404, {"Content-Type": "text/plain"}, b"not found"
        else:
            code, headers, body = route(self)
        try:
            self.send_response(code)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass

    do_GET = do_POST = do_HEAD = _handle


class LocalServer(ThreadingHTTPServer):
    daemon_threads = True
    routes: dict[str, Route]
    requests: list[tuple[str, str, dict[str, str]]]


@contextmanager
def serve(routes: dict[str, Route], tls: ssl.SSLContext | None = None) -> Iterator[LocalServer]:
    """Run a threaded HTTP(S) server on a free loopback port; yields it (``.url`` set)."""
    server = LocalServer(("127.0.0.1", 0), Handler)
    server.routes = routes
    server.requests = []
    scheme = "http"
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    port = server.server_address[1]
    server.url = f"{scheme}://127.0.0.1:{port}"  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def json_reply(data: Any, code: int = 200) -> tuple[int, dict[str, str], bytes]:
    return code, {"Content-Type": "application/json"}, json.dumps(data).encode()


def text_reply(text: str, code: int = 200) -> tuple[int, dict[str, str], bytes]:
    return code, {"Content-Type": "text/plain; charset=utf-8"}, text.encode()


def self_signed(folder: Path, days: int = 30) -> ssl.SSLContext:
    """A server context with a fresh self-signed certificate valid ``days`` days (openssl CLI)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", str(days), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def slow(seconds: float, then: Route) -> Route:
    def route(handler: Handler) -> tuple[int, dict[str, str], bytes]:
        time.sleep(seconds)
        return then(handler)

    return route


# ---------------------------------------------------------------- OpenAI-compatible


class FakeOpenAI:
    """/v1/models and /v1/chat/completions in the real JSON shapes; switchable failure modes."""

    def __init__(self, key: str = "sk-test-123") -> None:
        self.key = key
        self.models_mode = "ok"  # ok | 429 | 500 | notjson | badshape | empty
        self.completion_mode = "ok"  # ok | 429 | badshape
        self.completions = 0

    def _auth(self, handler: Handler) -> bool:
        return handler.headers.get("Authorization") == f"Bearer {self.key}"

    def _error(self, code: int, message: str, kind: str) -> tuple[int, dict[str, str], bytes]:
        return json_reply({"error": {"message": message, "type": kind, "param": None,
                                     "code": kind}}, code)  # fmt: skip

    def models(self, handler: Handler) -> tuple[int, dict[str, str], bytes]:
        if not self._auth(handler):
            return self._error(401, "Incorrect API key provided: sk-wr***", "invalid_api_key")
        if self.models_mode == "429":
            return self._error(429, "Rate limit reached for requests", "rate_limit_exceeded")
        if self.models_mode == "500":
            return self._error(500, "The server had an error", "server_error")
        if self.models_mode == "notjson":
            return text_reply("<html><body>Bad gateway</body></html>", 200)
        if self.models_mode == "badshape":
            return json_reply({"models": ["gpt-4o-mini"]})
        data = [] if self.models_mode == "empty" else [
            {"id": "gpt-4o-mini", "object": "model", "created": 1721172741, "owned_by": "system"},
            {"id": "gpt-4o", "object": "model", "created": 1715367049, "owned_by": "system"},
        ]  # fmt: skip
        return json_reply({"object": "list", "data": data})

    def chat(self, handler: Handler) -> tuple[int, dict[str, str], bytes]:
        if not self._auth(handler):
            return self._error(401, "Incorrect API key provided", "invalid_api_key")
        request = handler.body_json()
        self.completions += 1
        if self.completion_mode == "429":
            return self._error(429, "You exceeded your current quota", "insufficient_quota")
        if self.completion_mode == "badshape":
            return json_reply({"id": "chatcmpl-1", "object": "chat.completion", "choices": []})
        return json_reply({
            "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
            "object": "chat.completion",
            "created": 1741569952,
            "model": request["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "pong",
                         "refusal": None}, "logprobs": None, "finish_reason": "length"}],
            "usage": {"prompt_tokens": 8, "completion_tokens": 1, "total_tokens": 9},
        })  # fmt: skip

    def routes(self) -> dict[str, Route]:
        return {"/v1/models": self.models, "/v1/chat/completions": self.chat}


# ---------------------------------------------------------------- n8n


def n8n_execution(ex_id: int, workflow: str, status: str, started: str, ms: int) -> dict[str, Any]:
    """An execution as n8n's public API v1 lists it (includeData=false)."""
    import datetime as dt

    start = dt.datetime.fromisoformat(started.replace("Z", "+00:00"))
    stop = start + dt.timedelta(milliseconds=ms)
    finished = status == "success"
    return {
        "id": str(ex_id),
        "finished": finished,
        "mode": "trigger",
        "retryOf": None,
        "retrySuccessId": None,
        "startedAt": start.isoformat().replace("+00:00", ".000Z"),
        "stoppedAt": None if status in ("running", "waiting") else
        stop.isoformat().replace("+00:00", ".000Z"),
        "workflowId": workflow,
        "waitTill": None,
        "status": status,
    }  # fmt: skip


class FakeN8n:
    """/api/v1/workflows and /api/v1/executions with X-N8N-API-KEY and real cursors."""

    def __init__(self, workflows: list[dict[str, Any]], executions: list[dict[str, Any]],
                 key: str = "n8n-key") -> None:  # fmt: skip
        self.workflows = workflows
        self.executions = executions
        self.key = key
        self.mode = "ok"  # ok | notjson | badshape
        self.pages_served = 0

    def _page(
        self, handler: Handler, items: list[dict[str, Any]]
    ) -> tuple[int, dict[str, str], bytes]:
        if handler.headers.get("X-N8N-API-KEY") != self.key:
            return json_reply({"message": "unauthorized"}, 401)
        if self.mode == "notjson":
            return text_reply("<!doctype html><title>n8n</title>")
        if self.mode == "badshape":
            return json_reply({"data": {"oops": 1}})
        limit = int(handler.query.get("limit", "100"))
        # n8n's cursor is opaque base64 JSON; the client must pass it back unchanged.
        cursor = handler.query.get("cursor")
        start = json.loads(base64.b64decode(cursor))["offset"] if cursor else 0
        page = items[start : start + limit]
        more = start + limit < len(items)
        token = base64.b64encode(json.dumps({"offset": start + limit}).encode()).decode()
        self.pages_served += 1
        return json_reply({"data": page, "nextCursor": token if more else None})

    def routes(self) -> dict[str, Route]:
        return {
            "/api/v1/workflows": lambda h: self._page(h, self.workflows),
            "/api/v1/executions": lambda h: self._page(h, self.executions),
        }
