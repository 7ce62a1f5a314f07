from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from medhub import __version__
from medhub.health import service
from medhub.health.schemas import Liveness, Readiness
from medhub.kit.db import Database, get_database
from medhub.kit.envelope import Envelope, JSONResponse, error_response, ok
from medhub.kit.errors import ErrorDetail, ServiceUnavailable
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
async def ready(database: Database = Depends(get_database)) -> JSONResponse:
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


@router.get("/metrics", include_in_schema=False)
async def metrics_endpoint(request: Request) -> Response:
    metrics: Metrics = request.app.state.metrics
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
