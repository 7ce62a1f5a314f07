from __future__ import annotations

import hashlib
import hmac

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from medhub import __version__
from medhub.health import service
from medhub.health.schemas import Liveness, Readiness
from medhub.kit.appstate import AppSettings
from medhub.kit.db import Database, request_database
from medhub.kit.envelope import Envelope, JSONResponse, error_response, ok
from medhub.kit.errors import AuthenticationFailed, ErrorDetail, ServiceUnavailable
from medhub.kit.metrics import Metrics

router = APIRouter(tags=["operations"])


@router.get("/health/live", response_model=Envelope[Liveness], summary="The process is up")
async def live() -> JSONResponse:
    return ok(Liveness(version=__version__))


@router.get(
    "/health/ready",
    response_model=Envelope[Readiness],
    summary="The database answers and its schema is at the code's migration head",
    responses={503: {"description": "A check is failing; `details` names it"}},
)
async def ready(database: Database = Depends(request_database)) -> JSONResponse:
    result = await service.readiness(database)
    if result.status == "ok":
        return ok(result)
    return error_response(
        code=ServiceUnavailable.code,
        message="Not ready",
        status_code=503,
        details=[
            ErrorDetail(field=name, message=check.detail or "failing")
            for name, check in result.checks.items()
            if check.status != "ok"
        ],
    )


def _bearer_token(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _same_secret(presented: str, expected: str) -> bool:
    # Digests first, so the comparison takes as long whatever the lengths are.
    return hmac.compare_digest(
        hashlib.sha256(presented.encode()).digest(), hashlib.sha256(expected.encode()).digest()
    )


async def require_metrics_access(request: Request, settings: AppSettings) -> None:
    """/metrics is open only where the settings say so (see METRICS_TOKEN/METRICS_PUBLIC)."""
    expected = settings.metrics_token()
    if expected is None and (settings.METRICS_PUBLIC or not settings.is_production):
        return
    # No token in production and not declared public: prepare_settings refuses to start
    # like that, so an app built without it stays closed rather than open.
    presented = _bearer_token(request.headers.get("authorization"))
    if expected is None or presented is None or not _same_secret(presented, expected):
        raise AuthenticationFailed(
            "A valid metrics token is required (Authorization: Bearer <METRICS_TOKEN>)",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )


@router.get("/metrics", include_in_schema=False, dependencies=[Depends(require_metrics_access)])
async def metrics_endpoint(request: Request) -> Response:
    metrics: Metrics = request.app.state.metrics
    # With several API processes, whichever answers reports the sums over all of them.
    return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
