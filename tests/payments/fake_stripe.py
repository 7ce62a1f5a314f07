"""A stand-in for Stripe's API servers: a real HTTP server on a free local port that
answers the calls MedHub makes (create and retrieve PaymentIntents, create refunds)
with JSON shaped like Stripe's, honours `Idempotency-Key` as Stripe does, and keeps
every request it received for the tests to inspect.

Only Stripe's side of the wire is fake: MedHub's code, the official SDK and its
HTTP client run for real.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]


@dataclass
class Failure:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class FakeStripe:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.intents: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        # Answers to replay for an idempotency key already seen, as Stripe does.
        self._by_key: dict[str, tuple[int, dict[str, Any]]] = {}
        # Failures to answer the next matching requests with, by path.
        self.failures: dict[str, list[Failure]] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeStripe:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def fail_next(self, path: str, failure: Failure) -> None:
        self.failures.setdefault(path, []).append(failure)

    def received(self, method: str, path_prefix: str) -> list[Received]:
        return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    # --- Stripe's behaviour ------------------------------------------------------------------

    def _answer(self, method: str, path: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if method == "POST" and path == "/v1/payment_intents":
            intent_id = f"pi_{secrets.token_hex(12)}"
            intent = {
                "id": intent_id,
                "object": "payment_intent",
                "amount": int(form["amount"]),
                "amount_received": 0,
                "currency": form["currency"],
                "description": form.get("description"),
                "status": "requires_payment_method",
                "client_secret": f"{intent_id}_secret_{secrets.token_hex(12)}",
                "metadata": {
                    key[len("metadata[") : -1]: value
                    for key, value in form.items()
                    if key.startswith("metadata[")
                },
                "livemode": False,
                "created": int(time.time()),
            }
            self.intents[intent_id] = intent
            return 200, intent
        if method == "GET" and path.startswith("/v1/payment_intents/"):
            intent_id = path.rsplit("/", 1)[1]
            if intent_id not in self.intents:
                return 404, _error(
                    "invalid_request_error",
                    "resource_missing",
                    f"No such payment_intent: '{intent_id}'",
                )
            return 200, self.intents[intent_id]
        if method == "POST" and path == "/v1/refunds":
            intent_id = form["payment_intent"]
            if intent_id not in self.intents:
                return 404, _error(
                    "invalid_request_error",
                    "resource_missing",
                    f"No such payment_intent: '{intent_id}'",
                )
            refund_id = f"re_{secrets.token_hex(12)}"
            refund = {
                "id": refund_id,
                "object": "refund",
                "amount": int(form["amount"]),
                "currency": self.intents[intent_id]["currency"],
                "payment_intent": intent_id,
                "status": "succeeded",
                "metadata": {
                    key[len("metadata[") : -1]: value
                    for key, value in form.items()
                    if key.startswith("metadata[")
                },
                "created": int(time.time()),
            }
            self.refunds[refund_id] = refund
            return 200, refund
        return 404, _error("invalid_request_error", None, f"Unrecognized request URL ({path})")

    def _handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        form = dict(parse_qsl(body.decode(), keep_blank_values=True))
        with self._lock:
            self.requests.append(Received(method, path, headers, form))
            pending = self.failures.get(path)
            if pending:
                failure = pending.pop(0)
                return failure.status, failure.body, failure.headers
            key = headers.get("idempotency-key")
            if method == "POST" and key and key in self._by_key:
                status, answer = self._by_key[key]
                return status, answer, {"Idempotent-Replayed": "true"}
            status, answer = self._answer(method, path, form)
            if method == "POST" and key:
                self._by_key[key] = (status, answer)
            return status, answer, {}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {name.lower(): value for name, value in self.headers.items()}
                status, answer, extra = fake._handle(self.command, self.path, headers, body)
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Request-Id", f"req_{secrets.token_hex(8)}")
                for name, value in extra.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = _serve  # noqa: N815 - the names http.server dispatches to
            do_POST = _serve  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler


def _error(kind: str, code: str | None, message: str) -> dict[str, Any]:
    error: dict[str, Any] = {"type": kind, "message": message}
    if code:
        error["code"] = code
    return {"error": error}
