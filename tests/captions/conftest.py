"""A real chat-completions server on 127.0.0.1 for the caption tests, with scripted faults.

It answers like a model that follows the cleaning prompt (it runs the offline rules), counts
every request, and can be told to fail: globally (``faults``, consumed in order) or for one
caption (``caption_faults``). A fault is one of ``("429", seconds)``, ``"500"``, ``"bad_body"``
(not JSON), ``"bad_content"`` (content not JSON), ``"no_caption"`` (JSON without the field),
``("slow", seconds)``, ``"400"``, ``"echo_401"`` / ``"echo_500"`` (body repeats the
Authorization header, as a careless proxy might), ``"echo_answer"`` (a well-formed answer whose
caption repeats that header). ``answers`` replaces the answer for a caption
(or for a summary, keyed by the offline summary it replaces).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tacos.captions.backends import TimedCaption
from tacos.captions.rules import RuleBasedBackend

PROMPT_TOKENS = 100
COMPLETION_TOKENS = 20


class ChatServer:
    def __init__(self) -> None:
        self.faults: deque = deque()
        self.caption_faults: dict[str, deque] = {}
        self.answers: dict[str, dict] = {}
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    @property
    def user_messages(self) -> list[str]:
        return [request["body"]["messages"][1]["content"] for request in self.requests]

    def next_fault(self, payload: dict):
        with self.lock:
            queue = self.caption_faults.get(payload.get("caption", ""))
            if queue:
                return queue.popleft()
            return self.faults.popleft() if self.faults else None

    def answer(self, payload: dict) -> dict:
        offline = RuleBasedBackend()
        if "caption" in payload:
            if payload["caption"] in self.answers:
                return self.answers[payload["caption"]]
            result = offline.clean(payload["caption"])
            return {"caption": result.caption, "changes": list(result.changes)}
        events = [TimedCaption(e["caption"], e["onset"], e["offset"]) for e in payload["events"]]
        summary = offline.summarise(events).caption
        return self.answers.get(summary, {"caption": summary})


def _handler(server: ChatServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep test output clean
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            auth = self.headers.get("Authorization", "")
            with server.lock:
                server.requests.append({"path": self.path, "auth": auth, "body": body})
            payload = json.loads(body["messages"][1]["content"])
            fault = server.next_fault(payload)
            kind, value = fault if isinstance(fault, tuple) else (fault, None)
            # a client that timed out has closed the connection by the time a slow answer comes
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self._respond(kind, value, auth, payload)

        def _respond(self, kind, value, auth: str, payload: dict) -> None:
            if self.path != "/v1/chat/completions":
                return self._send(404, b"not found")
            if kind == "429":
                return self._send(429, b"slow down", {"Retry-After": str(value)})
            if kind in ("500", "400"):
                return self._send(int(kind), b"failure")
            if kind in ("echo_401", "echo_500"):
                return self._send(int(kind[-3:]), f"bad credentials: {auth}".encode())
            if kind == "bad_body":
                return self._send(200, b"{not json")
            if kind == "slow":
                time.sleep(value)
            content = {
                "bad_content": "Sure! Here is the caption you asked for.",
                "no_caption": json.dumps({"text": "A dog barks."}),
                "echo_answer": json.dumps({"caption": f"A dog barks. {auth}", "changes": []}),
            }.get(kind) or json.dumps(server.answer(payload))
            answer = {
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
                "usage": {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": COMPLETION_TOKENS},
            }
            self._send(200, json.dumps(answer).encode(), {"Content-Type": "application/json"})

        def _send(self, status: int, body: bytes, headers: dict | None = None) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@pytest.fixture
def chat_server():
    server = ChatServer()
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


@pytest.fixture
def api_key(monkeypatch) -> str:
    key = "sk-test-9f8e7d6c5b4a-SECRET"
    monkeypatch.setenv("TACOS_TEST_API_KEY", key)
    return key
