"""API docs served entirely from this process: hospitals run air-gapped, so no CDN."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from medhub.kit.envelope import ErrorEnvelope

STATIC_DIR = Path(__file__).resolve().parent.parent / "static" / "docs"
STATIC_URL = "/static/docs"
DOCS_URL = "/docs"
# Where the seeds' products published their docs (MedConnect, MedFlow): kept working.
DOCS_ALIASES = ("/api-docs", "/api/docs")

ERROR_STATUSES = {
    "400": "Invalid input (`VALIDATION_ERROR`, one `details` entry per bad field)",
    "401": "Not authenticated (`AUTHENTICATION_ERROR`)",
    "403": "Not allowed (`AUTHORIZATION_ERROR`)",
    "404": "Not found, or not yours (`NOT_FOUND`)",
    "409": "Conflicts with the current state (`CONFLICT`, `INVALID_STATE_TRANSITION`)",
    "429": "Rate limited (`RATE_LIMIT_EXCEEDED`)",
    "500": "Unexpected error (`INTERNAL_ERROR`); quote `request_id`",
    "503": "Overloaded or not configured here (`SERVICE_UNAVAILABLE`, with `Retry-After` when "
    "it is worth retrying)",
}
# What any operation that takes a body may also answer, before the route sees it.
BODY_ERROR_STATUSES = {
    "413": "Body too large (`PAYLOAD_TOO_LARGE`)",
    "415": "Body of a type this operation does not take (`UNSUPPORTED_MEDIA_TYPE`)",
}


def install_docs(app: FastAPI) -> None:
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIR), name="docs-static")

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{STATIC_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{STATIC_URL}/swagger-ui.css",
            swagger_favicon_url=f"{STATIC_URL}/favicon-32x32.png",
            swagger_ui_parameters={"persistAuthorization": True},
        )

    async def to_docs() -> RedirectResponse:
        return RedirectResponse(DOCS_URL, status_code=308)  # permanent

    for alias in DOCS_ALIASES:
        app.add_api_route(alias, to_docs, methods=["GET"], include_in_schema=False)

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{STATIC_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{STATIC_URL}/favicon-32x32.png",
            with_google_fonts=False,
        )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
            tags=app.openapi_tags,
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        envelope_schema = ErrorEnvelope.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        for name, definition in envelope_schema.pop("$defs", {}).items():
            components.setdefault(name, definition)
        components["ErrorEnvelope"] = envelope_schema
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        error_ref = {"$ref": "#/components/schemas/ErrorEnvelope"}
        for path_item in schema.get("paths", {}).values():
            for operation in path_item.values():
                responses = operation.setdefault("responses", {})
                # Request validation answers 400 here, never FastAPI's default 422.
                responses.pop("422", None)
                statuses = ERROR_STATUSES | (
                    BODY_ERROR_STATUSES if "requestBody" in operation else {}
                )
                for status, description in statuses.items():
                    entry = responses.setdefault(status, {"description": description})
                    entry["content"] = {"application/json": {"schema": error_ref}}
                for status, entry in responses.items():
                    if status.startswith(("4", "5")) and "content" not in entry:
                        entry["content"] = {"application/json": {"schema": error_ref}}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
