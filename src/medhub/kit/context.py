"""Per-request values that logging and error rendering need without threading them through."""

from __future__ import annotations

from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
user_id_var: ContextVar[str | None] = ContextVar("user_id", default=None)


def current_request_id() -> str | None:
    return request_id_var.get()


client_ip_var: ContextVar[str | None] = ContextVar("client_ip", default=None)
user_agent_var: ContextVar[str | None] = ContextVar("user_agent", default=None)


def current_client() -> tuple[str | None, str | None]:
    """(client IP, user agent) of the request being served, for audit rows."""
    return client_ip_var.get(), user_agent_var.get()
