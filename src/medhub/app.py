"""create_app(): the one place the service is assembled."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import Depends, FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from medhub import __version__
from medhub.apikeys.router import router as apikeys_router
from medhub.appointments import booking as appointment_booking
from medhub.appointments import lifecycle as appointment_lifecycle
from medhub.appointments.router import router as appointments_router
from medhub.audit.router import router as audit_router
from medhub.auth.router import router as auth_router
from medhub.auth.runtime import build_runtime
from medhub.authz.dependencies import api_rate_limit
from medhub.authz.principal import Principal
from medhub.authz.session_cache import AUTH_CHANGED_CHANNEL, CACHE_KEY, SessionCache
from medhub.billing import escrow as billing_escrow
from medhub.billing.router import router as billing_router
from medhub.catalog.document_access import DOCUMENT_ACCESS as CATALOG_DOCUMENT_ACCESS
from medhub.catalog.router import router as catalog_router
from medhub.config import ConfigurationError, Settings, get_settings
from medhub.consultations import service as consultations
from medhub.consultations.router import router as consultations_router
from medhub.doctors.router import router as doctors_router
from medhub.documents.access import DocumentAccess
from medhub.documents.router import router as documents_router
from medhub.events.router import router as events_router
from medhub.health.router import router as health_router
from medhub.inquiries.router import router as inquiries_router
from medhub.kit.db import Database
from medhub.kit.docs import install_docs
from medhub.kit.envelope import Envelope, JSONResponse, ok
from medhub.kit.handlers import install_error_handlers
from medhub.kit.input_guard import InputGuardMiddleware
from medhub.kit.jobs import JobRuntime, run_worker
from medhub.kit.logging import configure_logging
from medhub.kit.metrics import Metrics
from medhub.kit.middleware import RequestContextMiddleware
from medhub.kit.ratelimit import RateLimiter
from medhub.kit.routing import MisroutedMethodGuard, install_route_index, route_methods
from medhub.models.appointments import Appointment
from medhub.notifications.notify_hub import NotifyHub
from medhub.notifications.router import router as notifications_router
from medhub.ops.provision import check_app_role, prepare_database, wait_for_database
from medhub.ops.worker_election import WorkerElection
from medhub.orders import lifecycle as order_lifecycle
from medhub.orders.document_access import DOCUMENT_ACCESS as ORDER_DOCUMENT_ACCESS
from medhub.orders.router import router as orders_router
from medhub.organizations.router import router as organizations_router
from medhub.patients.router import router as patients_router
from medhub.payments.router import router as payments_router
from medhub.payments.router import webhook_router as payment_webhooks_router
from medhub.pharmacy_stock import restock as pharmacy_restock
from medhub.pharmacy_stock.router import router as pharmacy_stock_router
from medhub.prescriptions.public import router as prescription_public_router
from medhub.prescriptions.router import router as prescriptions_router
from medhub.records.router import router as records_router
from medhub.reports.router import router as reports_router
from medhub.reviews.router import router as reviews_router
from medhub.uploads.document_access import DOCUMENT_ACCESS as UPLOAD_DOCUMENT_ACCESS
from medhub.uploads.router import router as uploads_router
from medhub.users.router import router as users_router

log = structlog.get_logger(__name__)

API_PREFIX = "/api/v1"

TAGS = [
    {"name": "auth", "description": "Accounts, login sessions, tokens, password recovery, OTP"},
    {"name": "users", "description": "Your profile, addresses and statistics"},
    {"name": "admin", "description": "Tenants, organization members and the activity log"},
    {"name": "api-keys", "description": "Keys for third-party access to an organization"},
    {"name": "events", "description": "Domain events and the email queue"},
    {
        "name": "notifications",
        "description": "Your notifications, live updates (SSE) and channel preferences",
    },
    {"name": "catalog", "description": "Products, categories, certifications and stock"},
    {"name": "inquiries", "description": "Inquiries and quote requests to a supplier"},
    {"name": "orders", "description": "Orders with stock reservation, bulk CSV orders"},
    {"name": "payments", "description": "Payments (bank transfer, Stripe) and invoices"},
    {"name": "documents", "description": "Uploads and downloads of product and order files"},
    {"name": "reports", "description": "Sales, product and inquiry reports; the dashboard"},
    {"name": "doctors", "description": "Doctor directory, profiles, availability and free slots"},
    {"name": "appointments", "description": "Booking, rescheduling and the appointment lifecycle"},
    {
        "name": "consultations",
        "description": "Consultations (medical visits) with notes, vitals and video rooms",
    },
    {"name": "records", "description": "Patients' medical records (their history)"},
    {
        "name": "uploads",
        "description": "Patients' documents, medical files and your own documents (clinical)",
    },
    {
        "name": "prescriptions",
        "description": "Digital prescriptions: writing, reading, QR codes and their emails",
    },
    {
        "name": "pharmacy",
        "description": "Scanning, validating, dispensing and rejecting prescriptions; stock",
    },
    {"name": "meta", "description": "What this service is"},
    {"name": "operations", "description": "Health, readiness and metrics"},
]

DESCRIPTION = """
MedHub is one healthcare-platform backend: pharma B2B commerce, digital
prescriptions, multi-tenant hospital operations, consultations and personal
medicines.

Every response uses one envelope: `{"success": true, "data": ..., "message": ...}`
on success and `{"success": false, "error": {"code", "message", "details"},
"request_id"}` on failure. Every response carries `X-Request-ID`.
"""


def _report_worker_exit(task: asyncio.Task[None]) -> None:
    # Otherwise a crashed in-process worker would go unnoticed until shutdown.
    if not task.cancelled() and task.exception() is not None:
        log.error("worker.crashed", error=repr(task.exception()))


def _database_for(settings: Settings) -> Database | None:
    if settings.DATABASE_URL is None:
        return None
    return Database(settings, settings.DATABASE_URL, settings.DATABASE_READ_URL)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    # Every router is included by now (tests add theirs after create_app): read the
    # methods per path once, for the 405 answers.
    route_methods(app)
    install_route_index(app)
    if app.state.database is None:
        # Started without `medhub serve` and without DATABASE_URL: bring up the
        # embedded server here (blocking work, so off the event loop).
        target = await asyncio.to_thread(prepare_database, settings)
        app.state.database = Database(settings, target.app_url, settings.DATABASE_READ_URL)
    elif app.state.check_database_on_start:
        url = app.state.database.url
        await asyncio.to_thread(wait_for_database, url, settings.DATABASE_STARTUP_TIMEOUT)
        await asyncio.to_thread(check_app_role, url)
    hub = NotifyHub(app.state.database.url)
    app.state.notify_hub = hub
    # Session checks are cached only as long as the database can tell this process
    # when one changes (authz/session_cache.py).
    session_cache: SessionCache = app.state.session_cache
    app.state.database.session_info[CACHE_KEY] = session_cache
    hub.watch(AUTH_CHANGED_CHANNEL, session_cache.announced, session_cache.listening_changed)
    session_cache.poll = hub.poll
    await hub.start()
    metrics: Metrics = app.state.metrics
    metrics.start()
    worker: asyncio.Task[None] | None = None
    if settings.RUN_WORKER:
        # One in-process worker, so a single `medhub serve` is a working system; the
        # API processes sharing a database (`serve --workers N`) elect the one that
        # runs it, and a lone process wins at once (ops/worker_election.py).
        # Scaled-out deployments run `medhub worker` processes and --no-worker here.
        runtime = JobRuntime(settings=settings, database=app.state.database)
        election = WorkerElection(app.state.database.url)
        worker = asyncio.create_task(
            election.run(
                lambda: run_worker(
                    runtime,
                    concurrency=settings.WORKER_CONCURRENCY,
                    install_signal_handlers=False,
                    name="medhub-serve-worker",
                )
            ),
            name="medhub-worker",
        )
        worker.add_done_callback(_report_worker_exit)
    log.info("app.started", version=__version__, env=settings.ENV.value, worker=bool(worker))
    try:
        yield
    finally:
        if worker is not None:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        await metrics.stop()
        await hub.stop()
        await app.state.database.dispose()
        log.info("app.stopped")


async def _open_consultation(
    session: AsyncSession, appointment: Appointment, actor: Principal
) -> None:
    await consultations.open_for_appointment(session, appointment, actor=actor)


def create_app(
    settings: Settings | None = None,
    *,
    database: Database | None = None,
    configure_logs: bool = True,
    check_database_on_start: bool = True,
) -> FastAPI:
    settings = settings or get_settings()
    if settings.JWT_SECRET is None:
        raise ConfigurationError("settings were not prepared (JWT_SECRET missing)")
    if configure_logs:
        configure_logging(settings.LOG_LEVEL, json=settings.LOG_JSON)

    app = FastAPI(
        title="MedHub API",
        version=__version__,
        description=DESCRIPTION,
        openapi_tags=TAGS,
        docs_url=None,
        redoc_url=None,
        default_response_class=JSONResponse,
        lifespan=_lifespan,
        telemetry=(
            None
            if settings.OPENTELEMETRY_ENABLED
            else {"tracing": False, "metrics": False, "logs": False}
        ),
    )
    metrics = Metrics()
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.database = database or _database_for(settings)
    app.state.check_database_on_start = check_database_on_start
    runtime = build_runtime(settings)
    app.state.auth_runtime = runtime
    app.state.token_codec = runtime.codec
    app.state.rate_limiter = RateLimiter(settings, on_store_error=metrics.rate_limit_store_error)
    app.state.session_cache = SessionCache(max_age=settings.SESSION_CACHE_SECONDS)
    # Documents attach to other domains' entities; those domains decide who sees them.
    app.state.document_access = DocumentAccess(
        {**CATALOG_DOCUMENT_ACCESS, **ORDER_DOCUMENT_ACCESS, **UPLOAD_DOCUMENT_ACCESS}
    )
    # An appointment that starts opens its consultation, in the same unit of work
    # (consultations reads appointments, so appointments cannot call it directly).
    appointment_lifecycle.on_start("consultation", _open_consultation)
    # Paying for care: a patient's booking of a paid consultation opens its payment, and
    # a status move refunds or starts the escrow hold (billing reads appointments).
    appointment_booking.on_booked("billing", billing_escrow.opened_on_booking)
    appointment_lifecycle.on_status_change("billing", billing_escrow.appointment_moved)
    # A delivered reorder arrives in its pharmacy's stock, in the same unit of work (the
    # pharmacy stock domain places its orders through orders, so orders cannot call it).
    order_lifecycle.on_delivered("pharmacy_stock", pharmacy_restock.stock_delivered_order)
    # Late-bound: in embedded mode the database is created by the lifespan.
    metrics.add_pool_gauges(lambda: app.state.database.pool_status())  # noqa: PLW0108

    install_error_handlers(app)
    install_docs(app)

    # Each domain's router is included at the top level, not under one `/api/v1`
    # router: FastAPI walks an included router's routes on every request that reaches
    # it, so nesting multiplied the walk (kit/routing.RouteIndex then narrows the top
    # level to the routers that can match a path).
    api_dependencies = [Depends(api_rate_limit)]

    @app.get(
        API_PREFIX,
        response_model=Envelope[dict[str, str]],
        tags=["meta"],
        summary="Service index",
        dependencies=api_dependencies,
    )
    async def index() -> JSONResponse:
        return ok({"name": "MedHub", "version": __version__, "docs": "/docs"})

    for router in (
        auth_router,
        users_router,
        organizations_router,
        audit_router,
        apikeys_router,
        events_router,
        notifications_router,
        catalog_router,
        inquiries_router,
        orders_router,
        payments_router,
        documents_router,
        reports_router,
        # Before patients: `/patients/medical-history` must not be read as
        # `/patients/{patient_id}`.
        records_router,
        # Before patients and doctors: `/patients/prescriptions` and
        # `/doctors/prescriptions` must not be read as `/patients/{id}`, `/doctors/{id}`.
        prescriptions_router,
        # Before doctors: `/doctors/patients` must not be read as `/doctors/{doctor_id}`.
        patients_router,
        # Before doctors too: `/doctors/medical-visits` is the consultations router's.
        consultations_router,
        # Before doctors: `/doctors/me/earnings` is billing's.
        billing_router,
        doctors_router,
        appointments_router,
        uploads_router,
        pharmacy_stock_router,
        reviews_router,
    ):
        app.include_router(router, prefix=API_PREFIX, dependencies=api_dependencies)
    app.include_router(payment_webhooks_router, prefix=API_PREFIX)
    app.include_router(health_router)
    # Public, at the root: the keys that verify prescription QR codes (/.well-known/...).
    app.include_router(prescription_public_router)

    app.add_middleware(MisroutedMethodGuard)
    # Inside the request context (and CORS), so its 400s carry their headers and request id.
    app.add_middleware(InputGuardMiddleware)
    app.add_middleware(
        RequestContextMiddleware,
        metrics=metrics,
        max_body_size=settings.MAX_BODY_SIZE,
        trusted_proxies=settings.TRUSTED_PROXIES,
        hsts=True,
        # Starlette's CORS middleware, for the requests that carry an Origin.
        cors={
            "allow_origins": settings.CORS_ORIGINS,
            "allow_credentials": True,
            "allow_methods": ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            "allow_headers": [
                "Authorization",
                "Content-Type",
                "Idempotency-Key",
                "X-API-Key",
                "X-CSRF-Token",
                "X-OTP-Token",
                "X-Request-ID",
                "Last-Event-ID",
            ],
            "expose_headers": [
                "X-Request-ID",
                "X-RateLimit-Limit",
                "X-RateLimit-Remaining",
                "X-RateLimit-Reset",
                "Retry-After",
            ],
            "max_age": 600,
        },
    )
    return app
