"""Refuse text PostgreSQL cannot store, before any route sees the request.

PostgreSQL rejects NUL in `text` (and `\\u0000` in `jsonb`), and a lone UTF-16
surrogate has no UTF-8 encoding, so either one reaching a query is a 500. This
pure-ASGI middleware checks every client-supplied string once, for every route:
the decoded path, the query parameters, and the body when it is JSON, an
urlencoded form, or multipart (its text fields, field names, file names and part
headers; never file contents, which legitimately hold NUL bytes). A bad value is
a 400 `VALIDATION_ERROR` naming the field, and the app is never called.

Bodies are buffered only for those three media types (already bounded by the
size limit enforced outside) and replayed to the app byte for byte. Clean
requests pay a few substring scans: nothing is parsed unless one of them hits,
except multipart bodies, which have no such shortcut.
"""

from __future__ import annotations

import codecs
import json
import re
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from fastapi.routing import iter_route_contexts
from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from medhub.kit.envelope import error_response
from medhub.kit.errors import ErrorDetail, ValidationFailed

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

NUL_MESSAGE = "must not contain NUL characters"
SURROGATE_MESSAGE = "must not contain unpaired UTF-16 surrogates"
# Enough to fix a request; a body full of bad values must not make a huge answer.
MAX_DETAILS = 50

# JSON escapes of surrogates, `\uD800`-`\uDFFF`, with hex digits in either case.
_ESCAPED_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")
# json.loads decodes bytes with "surrogatepass": UTF-8-encoded surrogates get through.
_ENCODED_SURROGATE = re.compile(rb"\xed[\xa0-\xbf]")


def text_problem(text: str) -> str | None:
    """Why PostgreSQL could not store `text`, or None when it can."""
    if "\x00" in text:
        return NUL_MESSAGE
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return SURROGATE_MESSAGE
    return None


def _printable(name: str) -> str:
    # A field name that is itself the problem is shown JSON-escaped (`a\u0000b`).
    return json.dumps(name)[1:-1] if text_problem(name) else name


def _pairs_details(pairs: Iterable[tuple[str, str]]) -> list[ErrorDetail]:
    details: list[ErrorDetail] = []
    for name, value in pairs:
        if (problem := text_problem(name)) is not None:
            details.append(ErrorDetail(field=_printable(name), message=f"name {problem}"))
        elif (problem := text_problem(value)) is not None:
            details.append(ErrorDetail(field=name, message=problem))
    return details


def _urlencoded_details(raw: bytes) -> list[ErrorDetail]:
    """Query strings and urlencoded forms, decoded exactly as Starlette decodes them."""
    # Percent-decoding is UTF-8 with replacement, so only NUL is possible here.
    if b"%00" not in raw and b"\x00" not in raw:
        return []
    return _pairs_details(parse_qsl(raw.decode("latin-1"), keep_blank_values=True))


class _Members(list[tuple[str, Any]]):
    """A JSON object's members in order, duplicate names included: every value is
    checked, whichever one the app keeps."""


def _json_may_be_unstorable(body: bytes) -> bool:
    return (
        b"\\u0000" in body
        or b"\x00" in body
        or (b"\\u" in body and _ESCAPED_SURROGATE.search(body) is not None)
        or (b"\xed" in body and _ENCODED_SURROGATE.search(body) is not None)
    )


def _json_details(body: bytes) -> list[ErrorDetail]:
    if not _json_may_be_unstorable(body):
        return []
    try:
        # Parsed as the app parses it (Starlette's `json.loads(body)`).
        document = json.loads(body, object_pairs_hook=_Members)
    except (ValueError, RecursionError):
        # Malformed: the route's own parser answers with its 400.
        return []
    details: list[ErrorDetail] = []
    # Iterative, so a deeply nested document cannot exhaust the stack here.
    pending: list[tuple[str, Any]] = [("", document)]
    while pending:
        path, node = pending.pop()
        children: list[tuple[str, Any]] = []
        if isinstance(node, str):
            if (problem := text_problem(node)) is not None:
                details.append(ErrorDetail(field=path or None, message=problem))
        elif isinstance(node, _Members):
            for name, value in node:
                child = f"{path}.{_printable(name)}" if path else _printable(name)
                if (problem := text_problem(name)) is not None:
                    details.append(ErrorDetail(field=child, message=f"name {problem}"))
                children.append((child, value))
        elif isinstance(node, list):
            children = [(f"{path}.{i}" if path else str(i), v) for i, v in enumerate(node)]
        # Reversed onto the stack, so details come out in document order.
        pending.extend(reversed(children))
    return details


def _decode(raw: bytes, charset: str) -> str:
    # Starlette's own fallback for form text that is not valid in the declared charset.
    try:
        return raw.decode(charset)
    except (UnicodeDecodeError, LookupError):
        return raw.decode("latin-1")


class _MultipartInspector:
    """Text fields, names, file names and part headers of a multipart body; file
    contents only pass through the parser."""

    def __init__(self, charset: str) -> None:
        self.charset = charset
        self.details: list[ErrorDetail] = []
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""
        self._headers_with_nul = False
        self._name = ""
        self._is_file = False
        self._text = bytearray()

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._part_begin,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value_data,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
        }

    def _part_begin(self) -> None:
        self._disposition = b""
        self._headers_with_nul = False
        self._name = ""
        self._is_file = False
        self._text = bytearray()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = self._header_value
        # Part headers reach the app as strings (an upload's content type, say).
        self._headers_with_nul |= b"\x00" in self._header_value
        self._header_name = b""
        self._header_value = b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        self._name = _decode(options.get(b"name", b""), self.charset)
        self._is_file = b"filename" in options
        field = _printable(self._name)
        reported = len(self.details)
        if (problem := text_problem(self._name)) is not None:
            self.details.append(ErrorDetail(field=field, message=f"name {problem}"))
        if self._is_file:
            file_name = _decode(options[b"filename"], self.charset)
            if (problem := text_problem(file_name)) is not None:
                self.details.append(ErrorDetail(field=field, message=f"file name {problem}"))
        # A NUL in the name or file name is in a header too: one detail is enough.
        if self._headers_with_nul and len(self.details) == reported:
            self.details.append(ErrorDetail(field=field, message=f"part headers {NUL_MESSAGE}"))

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if not self._is_file:
            self._text += data[start:end]

    def _part_end(self) -> None:
        if self._is_file:
            return
        value = _decode(bytes(self._text), self.charset)
        if (problem := text_problem(value)) is not None:
            self.details.append(ErrorDetail(field=_printable(self._name), message=problem))


def _multipart_details(chunks: Iterable[bytes], params: dict[bytes, bytes]) -> list[ErrorDetail]:
    boundary = params.get(b"boundary")
    if not boundary:
        return []  # the route's form parser refuses it
    try:
        charset = codecs.lookup(params.get(b"charset", b"utf-8").decode("latin-1")).name
    except LookupError:
        charset = "latin-1"
    inspector = _MultipartInspector(charset)
    try:
        parser = MultipartParser(boundary, inspector.callbacks())
        for chunk in chunks:
            parser.write(chunk)
        parser.finalize()
    except FormParserError:
        # The route's parser (the same library) refuses it too, with its own 400.
        return []
    return inspector.details


BodyCheck = Callable[[list[bytes]], list[ErrorDetail]]


def _body_check(scope: Scope) -> BodyCheck | None:
    """How to check this request's body, or None when it is not one we read."""
    content_type = _header(scope, b"content-type")
    if content_type is None:
        return None
    media, params = parse_options_header(content_type)
    if media == b"application/json" or (
        media.startswith(b"application/") and media.endswith(b"+json")
    ):
        return lambda chunks: _json_details(b"".join(chunks))
    if media == b"application/x-www-form-urlencoded":
        return lambda chunks: _urlencoded_details(b"".join(chunks))
    if media == b"multipart/form-data":
        return lambda chunks: _multipart_details(chunks, params)
    return None


class InputGuardMiddleware:
    """Answers 400 for any NUL or lone surrogate in the path, query or body text."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # The routes' path patterns, read on the first refused path (every router is
        # included by then), only to name the parameter that holds the bad text.
        self._path_patterns: list[re.Pattern[str]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        details = self._path_details(scope) + _urlencoded_details(scope.get("query_string", b""))
        if details:
            await _refuse(details, scope, receive, send)
            return
        check = _body_check(scope)
        if check is None:
            await self.app(scope, receive, send)
            return
        try:
            chunks, disconnect = await _read_body(receive)
        except HTTPException as error:
            # Over the size limit (raised by the outer middleware's `receive`): handed
            # to the app's body reader, which renders it exactly as without this guard.
            await self.app(scope, _raising(error), send)
            return
        details = [] if disconnect is not None else check(chunks)
        if details:
            await _refuse(details, scope, receive, send)
            return
        await self.app(scope, _replaying(chunks, disconnect, receive), send)

    def _path_details(self, scope: Scope) -> list[ErrorDetail]:
        path: str = scope.get("path", "")
        problem = text_problem(path)
        if problem is None:
            return []
        root_path: str = scope.get("root_path", "")
        route_path = path[len(root_path) :] if root_path and path.startswith(root_path) else path
        app = scope.get("app")
        parameter = self._path_parameter(app, route_path) if isinstance(app, Starlette) else None
        field = parameter or "path"
        return [ErrorDetail(field=field, message=problem)]

    def _path_parameter(self, app: Starlette, route_path: str) -> str | None:
        """The name of the route parameter holding the bad text, when a route matches."""
        if self._path_patterns is None:
            regexes = (context.path_regex for context in iter_route_contexts(app.router.routes))
            self._path_patterns = [regex for regex in regexes if isinstance(regex, re.Pattern)]
        for pattern in self._path_patterns:
            match = pattern.match(route_path)
            if match is None:
                continue
            for name, value in match.groupdict().items():
                if text_problem(value) is not None:
                    return name
        return None


async def _read_body(receive: Receive) -> tuple[list[bytes], Message | None]:
    """The body's chunks, and the disconnect message if the client left before the end."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return chunks, message
        if chunk := message.get("body", b""):
            chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks, None


def _replaying(chunks: list[bytes], disconnect: Message | None, receive: Receive) -> Receive:
    """`receive` for the app: the buffered body first, then the client again."""
    pending: deque[Message] = deque(
        {"type": "http.request", "body": chunk, "more_body": True} for chunk in chunks
    )
    if disconnect is not None:
        pending.append(disconnect)
    elif pending:
        pending[-1]["more_body"] = False
    else:
        pending.append({"type": "http.request", "body": b"", "more_body": False})
    chunks.clear()  # each chunk is now held once, and released as the app reads it

    async def replay() -> Message:
        if pending:
            return pending.popleft()
        return await receive()

    return replay


def _raising(error: Exception) -> Receive:
    async def receive() -> Message:
        raise error

    return receive


async def _refuse(details: list[ErrorDetail], scope: Scope, receive: Receive, send: Send) -> None:
    response = error_response(
        code=ValidationFailed.code,
        message="Text must not contain NUL characters or unpaired surrogates",
        status_code=ValidationFailed.status_code,
        details=details[:MAX_DETAILS],
    )
    await response(scope, receive, send)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None
