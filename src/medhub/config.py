"""One settings class for the whole service, read from the environment (and `.env`)."""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from collections.abc import Iterator
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from medhub.field_crypto import FieldCryptoError, Keyring

# Secrets that development generates once and keeps under DATA_DIR, and that
# production must be given explicitly.
GENERATED_SECRETS = (
    "JWT_SECRET",
    "FIELD_ENCRYPTION_KEYS",
    "FIELD_INDEX_KEY",
    "PRESCRIPTION_SIGNING_KEY",
    "AUDIT_ANCHOR_SIGNING_KEY",
)
# Secrets whose value is a key specification rather than a long random string.
KEY_SECRETS = frozenset(
    {
        "FIELD_ENCRYPTION_KEYS",
        "FIELD_INDEX_KEY",
        "PRESCRIPTION_SIGNING_KEY",
        "AUDIT_ANCHOR_SIGNING_KEY",
    }
)
# Secrets that are Ed25519 private keys: base64url of 32 bytes.
ED25519_SECRETS = frozenset({"PRESCRIPTION_SIGNING_KEY", "AUDIT_ANCHOR_SIGNING_KEY"})
# Ed25519 keys, private (the seed) and public alike, are 32 bytes (RFC 8032).
ED25519_KEY_BYTES = 32
MIN_SECRET_LENGTH = 32
# Settings that are URLs which may carry a password.
URL_SETTINGS = frozenset({"DATABASE_URL", "DATABASE_READ_URL", "DATABASE_ADMIN_URL", "REDIS_URL"})


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class ConfigurationError(Exception):
    """The service cannot start with this configuration; the message says what to fix."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=True
    )

    ENV: Environment = Environment.development
    HOST: str = "127.0.0.1"
    PORT: int = Field(default=8000, ge=1, le=65535)
    DATA_DIR: Path = Path("./var")
    PUBLIC_BASE_URL: str = "http://127.0.0.1:8000"
    FRONTEND_URL: str = "http://localhost:3000"
    LOG_LEVEL: str = "INFO"
    LOG_JSON: bool | None = None

    DATABASE_URL: str | None = None
    DATABASE_READ_URL: str | None = None
    DATABASE_ADMIN_URL: str | None = None
    DATABASE_POOL_SIZE: int = Field(default=20, ge=1, le=500)
    DATABASE_POOL_TIMEOUT: float = Field(default=10.0, gt=0)
    DATABASE_STATEMENT_TIMEOUT_MS: int = Field(default=30_000, ge=0)
    DATABASE_STARTUP_TIMEOUT: float = Field(default=30.0, ge=0)
    DATABASE_APP_ROLE: str = "medhub_app"

    REDIS_URL: str | None = None

    # /metrics shows traffic by route and the pool's state: scrapers send
    # `Authorization: Bearer <METRICS_TOKEN>`. Production refuses to start without a
    # token unless METRICS_PUBLIC says the endpoint is meant to be open (a token, when
    # set, is always required).
    METRICS_TOKEN: SecretStr | None = None
    METRICS_PUBLIC: bool = False
    # FastAPI's native OpenTelemetry spans and metrics for an operator who configures
    # OpenTelemetry providers (e.g. with `opentelemetry-instrument`). Off by default:
    # MedHub reports through /metrics, and the check whether any provider is set runs on
    # every request.
    OPENTELEMETRY_ENABLED: bool = False

    JWT_SECRET: SecretStr | None = None
    # AES-256-GCM keys for sensitive columns (kit/field_crypto.py): `version:base64key`
    # entries separated by commas; the highest version encrypts, every listed one
    # decrypts. Add a new version, run `medhub crypto rotate`, then drop the old one.
    FIELD_ENCRYPTION_KEYS: SecretStr | None = None
    # HMAC key of the blind indexes (exact search on encrypted phone/national id).
    FIELD_INDEX_KEY: SecretStr | None = None
    # The Ed25519 key that signs prescriptions' QR tokens: base64url of the 32-byte
    # private key, the `d` of its JWK (RFC 8037); `medhub crypto
    # generate-prescription-key` prints one.
    PRESCRIPTION_SIGNING_KEY: SecretStr | None = None
    # Public keys of earlier signing keys (base64url of 32 bytes, a JWK's `x`),
    # comma-separated: QR codes they signed still verify, and
    # /.well-known/prescription-keys publishes them, until they are removed from here.
    PRESCRIPTION_PREVIOUS_PUBLIC_KEYS: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # How long a prescription (and its QR code) is valid after it is issued.
    PRESCRIPTION_VALID_DAYS: int = Field(default=30, ge=1, le=365)

    # The Ed25519 key that signs the audit chain's checkpoints (audit/anchors.py),
    # base64url of its 32 bytes; kept outside the database so that whoever can rewrite
    # the database cannot re-sign. `medhub audit generate-anchor-key` prints one.
    AUDIT_ANCHOR_SIGNING_KEY: SecretStr | None = None
    # Public keys of earlier anchor keys (base64url, comma-separated): the checkpoints
    # they signed still verify while they are listed.
    AUDIT_ANCHOR_PREVIOUS_PUBLIC_KEYS: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Where checkpoints are appended: empty means DATA_DIR/audit-anchors, `-` stdout.
    AUDIT_ANCHOR_DIR: str = ""
    AUDIT_ANCHOR_INTERVAL_MINUTES: int = Field(default=60, ge=1, le=1440)

    # Peers whose X-Forwarded-For is believed (IPs or CIDRs); everyone else's is ignored.
    TRUSTED_PROXIES: Annotated[list[str], NoDecode] = Field(default_factory=list)
    CORS_ORIGINS: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # An upload of UPLOAD_MAX_BYTES plus its multipart framing must fit.
    MAX_BODY_SIZE: int = Field(default=10 * 1024 * 1024 + 64 * 1024, ge=1024)

    JWT_PREVIOUS_SECRETS: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    ACCESS_TOKEN_TTL_MINUTES: int = Field(default=15, ge=1, le=1440)
    REFRESH_TOKEN_TTL_DAYS: int = Field(default=7, ge=1, le=90)
    # How long a process may reuse a login session's check without asking the database
    # again; 0 checks on every request. Changes are announced by NOTIFY and applied at
    # once, so this only bounds how long an entry lives (authz/session_cache.py).
    SESSION_CACHE_SECONDS: float = Field(default=60.0, ge=0, le=3600)
    COOKIE_SECURE: bool | None = None
    COOKIE_DOMAIN: str | None = None

    PASSWORD_HASH_MEMORY_KIB: int = Field(default=19456, ge=8192)
    PASSWORD_HASH_ITERATIONS: int = Field(default=2, ge=1)
    PASSWORD_HASH_PARALLELISM: int = Field(default=1, ge=1)
    PASSWORD_HASH_WORKERS: int = Field(default=2, ge=1, le=64)
    PASSWORD_HISTORY: int = Field(default=5, ge=0, le=24)
    # Failed logins are throttled per (email, client IP) and per client IP, never per
    # account alone: nobody can lock the owner out from another address. Within
    # LOCKOUT_MINUTES, LOGIN_MAX_FAILURES failures for one email from one address (or
    # LOGIN_MAX_FAILURES_PER_IP for any emails from one address) throttle that pair
    # (or that address) for LOCKOUT_MINUTES.
    LOGIN_MAX_FAILURES: int = Field(default=5, ge=1)
    LOGIN_MAX_FAILURES_PER_IP: int = Field(default=20, ge=1)
    LOCKOUT_MINUTES: int = Field(default=15, ge=1)
    EMAIL_VERIFICATION_TTL_HOURS: int = Field(default=48, ge=1)
    PASSWORD_RESET_TTL_MINUTES: int = Field(default=60, ge=5)
    OTP_TTL_MINUTES: int = Field(default=10, ge=1)
    OTP_MAX_ATTEMPTS: int = Field(default=5, ge=1)

    RATE_LIMIT_ENABLED: bool = True
    # While Redis cannot be reached: `reads` lets reads through and answers limited
    # writes 503, `all` lets everything through, `none` refuses everything limited.
    RATE_LIMIT_FAIL_OPEN: Literal["reads", "all", "none"] = "reads"
    RATE_LIMIT_GLOBAL: str = "100/minute"
    RATE_LIMIT_ANONYMOUS: str = "10/minute"
    RATE_LIMIT_LOGIN: str = "5/15minutes"
    RATE_LIMIT_REGISTER: str = "3/hour"
    RATE_LIMIT_PASSWORD_RESET: str = "3/hour"  # noqa: S105 - a rate, not a password
    RATE_LIMIT_OTP: str = "3/5minutes"
    # Per user (MedConnect: "Medical History Access: 10 per minute per user").
    RATE_LIMIT_MEDICAL_HISTORY: str = "10/minute"
    # Per user (MedConnect: prescription creation 10, QR emails 5, scans 20, other
    # pharmacy operations 15 a minute). Reference-number lookups that match nothing
    # are counted apart, per pharmacist: guessing references stops after a few.
    RATE_LIMIT_PRESCRIPTION_CREATE: str = "10/minute"
    RATE_LIMIT_QR_EMAIL: str = "5/minute"
    RATE_LIMIT_PHARMACY_SCAN: str = "20/minute"
    RATE_LIMIT_PHARMACY_OPERATIONS: str = "15/minute"
    RATE_LIMIT_REFERENCE_MISSES: str = "10/hour"
    # Per user (MedConnect: "Event Management: 30 per minute per user"): every /events route.
    RATE_LIMIT_EVENTS: str = "30/minute"
    # Per IP: anonymous QR verification (/rx/verify, /rx/<token>), outside /api/v1's limits.
    RATE_LIMIT_RX_VERIFY: str = "60/minute"
    RATE_LIMIT_ROLES: dict[str, str] = Field(
        default_factory=lambda: {
            "super_admin": "100/minute",
            "admin": "100/minute",
            "doctor": "50/minute",
            "pharmacist": "30/minute",
            "patient": "20/minute",
            "sales": "50/minute",
            "customer": "30/minute",
            "distributor": "50/minute",
        }
    )

    EMAIL_BACKEND: Literal["console", "smtp"] = "console"
    FROM_EMAIL: str = "MedHub <noreply@medhub.local>"
    SMTP_HOST: str = "localhost"
    SMTP_PORT: int = Field(default=587, ge=1, le=65535)
    SMTP_USER: str | None = None
    SMTP_PASS: SecretStr | None = None
    # starttls: upgrade a plain connection (port 587); tls: TLS from the start (465); none.
    SMTP_TLS: Literal["starttls", "tls", "none"] = "starttls"
    SMTP_TIMEOUT_SECONDS: float = Field(default=30.0, gt=0)
    EMAIL_MAX_ATTEMPTS: int = Field(default=8, ge=1, le=50)
    EMAIL_RETRY_BASE_SECONDS: float = Field(default=30.0, ge=0)

    SSE_HEARTBEAT_SECONDS: float = Field(default=15.0, gt=0)
    SMS_BACKEND: Literal["console"] = "console"

    # `medhub serve` runs one job worker in-process unless this is off (--no-worker).
    RUN_WORKER: bool = True
    WORKER_CONCURRENCY: int = Field(default=4, ge=1, le=100)
    JOB_RETENTION_HOURS: int = Field(default=168, ge=1)
    STALLED_JOB_SECONDS: int = Field(default=120, ge=10)

    # Catalog: what anonymous visitors see (signed-in users always see prices and stock).
    CATALOG_PUBLIC_PRICES: bool = True
    CATALOG_PUBLIC_STOCK: bool = True
    # The supplier that inquiries without a product go to (created by the migrations).
    DEFAULT_SUPPLIER_SLUG: str = "medpharm"
    DEFAULT_CURRENCY: str = Field(default="USD", min_length=3, max_length=3)
    # Unpaid pending orders are cancelled (and their stock released) after this long.
    ORDER_PAYMENT_TIMEOUT_MINUTES: int = Field(default=72 * 60, ge=1)
    ORDER_MAX_ITEMS: int = Field(default=100, ge=1, le=1000)
    BULK_ORDER_MAX_LINES: int = Field(default=500, ge=1, le=10_000)
    IDEMPOTENCY_RETENTION_HOURS: int = Field(default=24, ge=1)
    # Days before a certificate's expiry on which the supplier's admins are told.
    CERTIFICATE_EXPIRY_NOTICE_DAYS: Annotated[list[int], NoDecode] = Field(
        default_factory=lambda: [60, 30, 7]
    )

    # Doctors' free slots start at least this long from now (no booking at short notice).
    APPOINTMENT_MIN_LEAD_MINUTES: int = Field(default=60, ge=0, le=30 * 24 * 60)
    # Staff may check a patient in (or start) this long before the appointment's start.
    APPOINTMENT_EARLY_START_MINUTES: int = Field(default=15, ge=0, le=24 * 60)
    # A patient reschedules until this long before the start; a cancellation inside it
    # is marked late (what a late cancellation costs is the payments issue's).
    APPOINTMENT_CANCEL_CUTOFF_HOURS: int = Field(default=24, ge=0, le=30 * 24)
    # A paid consultation booked by a patient is cancelled (its slot freed) when it is
    # still unpaid this long after the payment started.
    APPOINTMENT_PAYMENT_TIMEOUT_MINUTES: int = Field(default=30, ge=1, le=7 * 24 * 60)
    # The share of a late cancellation's fee given back to the patient, in percent.
    LATE_CANCEL_REFUND_PERCENT: Decimal = Field(default=Decimal(50), ge=0, le=100)
    # Escrow: a consultation's fee is released to the doctor this many hours after the
    # visit (the dispute window). Decimals allowed (0.05 = 3 minutes, for demos).
    ESCROW_HOLD_HOURS: Decimal = Field(default=Decimal(24), ge=0, le=90 * 24)
    # The platform's share of a released fee, in percent (organizations may have their
    # own, set by a super admin); rounded down to the cent, the doctor gets the rest.
    PLATFORM_FEE_PERCENT: Decimal = Field(default=Decimal(10), ge=0, le=100)

    # Video consultations: "jitsi" names an unguessable room on VIDEO_BASE_URL (the
    # public meet.jit.si, or a self-hosted Jitsi Meet); "none" never offers a video link.
    VIDEO_PROVIDER: Literal["jitsi", "none"] = "jitsi"
    VIDEO_BASE_URL: str = Field(default="https://meet.jit.si", pattern=r"^https?://[^\s?#]+$")

    # Payments: "manual" (bank transfer, staff record it) or "stripe" (PaymentIntents).
    PAYMENT_PROVIDER: Literal["manual", "stripe"] = "manual"
    STRIPE_SECRET_KEY: SecretStr | None = None
    STRIPE_WEBHOOK_SECRET: SecretStr | None = None
    STRIPE_API_BASE: str = "https://api.stripe.com"
    STRIPE_WEBHOOK_TOLERANCE_SECONDS: int = Field(default=300, ge=1)

    # Documents: "local" keeps files under DATA_DIR/files; "s3" uses an S3-compatible store.
    STORAGE_BACKEND: Literal["local", "s3"] = "local"
    UPLOAD_MAX_BYTES: int = Field(default=10 * 1024 * 1024, ge=1024)
    # A stored file with no document row (its transaction rolled back, or its deletion's
    # clean-up failed) is removed by the hourly sweep once it is this old.
    UPLOAD_ORPHAN_GRACE_MINUTES: int = Field(default=60, ge=1)
    # Clinical uploads (/upload: patients' documents, medical files, users' own); like
    # UPLOAD_MAX_BYTES, MAX_BODY_SIZE must leave room for it plus the multipart framing.
    CLINICAL_UPLOAD_MAX_BYTES: int = Field(default=10 * 1024 * 1024, ge=1024)
    S3_BUCKET: str = "medhub-documents"
    S3_REGION: str = "us-east-1"
    S3_ENDPOINT_URL: str | None = None
    AWS_ACCESS_KEY_ID: str | None = None
    AWS_SECRET_ACCESS_KEY: SecretStr | None = None

    @field_validator("CERTIFICATE_EXPIRY_NOTICE_DAYS", mode="before")
    @classmethod
    def _split_days(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [int(part) for part in value.split(",") if part.strip()]
        return value

    @field_validator(
        "CORS_ORIGINS",
        "TRUSTED_PROXIES",
        "JWT_PREVIOUS_SECRETS",
        "PRESCRIPTION_PREVIOUS_PUBLIC_KEYS",
        "AUDIT_ANCHOR_PREVIOUS_PUBLIC_KEYS",
        mode="before",
    )
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        # Accept both a JSON list and the friendlier comma-separated form.
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [origin.strip() for origin in text.split(",") if origin.strip()]
        return value

    @field_validator("LOG_LEVEL")
    @classmethod
    def _upper_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @property
    def is_production(self) -> bool:
        return self.ENV is Environment.production

    @property
    def cookie_secure(self) -> bool:
        return self.is_production if self.COOKIE_SECURE is None else self.COOKIE_SECURE

    @property
    def uses_embedded_database(self) -> bool:
        return self.DATABASE_URL is None

    @property
    def data_dir(self) -> Path:
        return self.DATA_DIR.expanduser().resolve()

    @property
    def pgdata_dir(self) -> Path:
        return self.data_dir / "pgdata"

    def metrics_token(self) -> str | None:
        """The token /metrics requires, or None when none is set (empty counts as unset)."""
        if self.METRICS_TOKEN is None:
            return None
        return self.METRICS_TOKEN.get_secret_value() or None

    def jwt_secret(self) -> str:
        if self.JWT_SECRET is None:
            raise ConfigurationError("JWT_SECRET is not set; call prepare_settings() first")
        return self.JWT_SECRET.get_secret_value()

    def field_keyring(self) -> Keyring:
        """The keys of the encrypted columns, checked (kit/field_crypto.py)."""
        if self.FIELD_ENCRYPTION_KEYS is None or self.FIELD_INDEX_KEY is None:
            raise ConfigurationError(
                "FIELD_ENCRYPTION_KEYS and FIELD_INDEX_KEY are not set; call prepare_settings() "
                "first (development generates them into DATA_DIR/secrets.json)"
            )
        try:
            return Keyring.from_specs(
                self.FIELD_ENCRYPTION_KEYS.get_secret_value(),
                self.FIELD_INDEX_KEY.get_secret_value(),
            )
        except FieldCryptoError as exc:
            raise ConfigurationError(f"Refusing to start: {exc}.") from exc

    def prescription_signing_key(self) -> Ed25519PrivateKey:
        """The key that signs prescriptions' QR tokens (prescriptions/tokens.py)."""
        if self.PRESCRIPTION_SIGNING_KEY is None:
            raise ConfigurationError(
                "PRESCRIPTION_SIGNING_KEY is not set; call prepare_settings() first "
                "(development generates it into DATA_DIR/secrets.json)"
            )
        raw = _ed25519_key_bytes(
            self.PRESCRIPTION_SIGNING_KEY.get_secret_value(), "PRESCRIPTION_SIGNING_KEY"
        )
        return Ed25519PrivateKey.from_private_bytes(raw)

    def prescription_previous_public_keys(self) -> list[Ed25519PublicKey]:
        """Earlier signing keys' public halves, which still verify the tokens they signed."""
        return [
            Ed25519PublicKey.from_public_bytes(
                _ed25519_key_bytes(encoded, "PRESCRIPTION_PREVIOUS_PUBLIC_KEYS")
            )
            for encoded in self.PRESCRIPTION_PREVIOUS_PUBLIC_KEYS
        ]

    def audit_anchor_signing_key(self) -> Ed25519PrivateKey:
        """The key that signs the audit chain's checkpoints (audit/anchors.py)."""
        if self.AUDIT_ANCHOR_SIGNING_KEY is None:
            raise ConfigurationError(
                "AUDIT_ANCHOR_SIGNING_KEY is not set; call prepare_settings() first "
                "(development generates it into DATA_DIR/secrets.json)"
            )
        raw = _ed25519_key_bytes(
            self.AUDIT_ANCHOR_SIGNING_KEY.get_secret_value(),
            "AUDIT_ANCHOR_SIGNING_KEY",
            generator=ANCHOR_KEY_GENERATOR,
        )
        return Ed25519PrivateKey.from_private_bytes(raw)

    def audit_anchor_previous_public_keys(self) -> list[Ed25519PublicKey]:
        """Earlier anchor keys' public halves, which still verify their checkpoints."""
        return [
            Ed25519PublicKey.from_public_bytes(
                _ed25519_key_bytes(
                    encoded, "AUDIT_ANCHOR_PREVIOUS_PUBLIC_KEYS", generator=ANCHOR_KEY_GENERATOR
                )
            )
            for encoded in self.AUDIT_ANCHOR_PREVIOUS_PUBLIC_KEYS
        ]

    @property
    def audit_anchor_dir(self) -> Path | None:
        """Where checkpoints are appended; None when they go to stdout."""
        if self.AUDIT_ANCHOR_DIR == "-":
            return None
        if self.AUDIT_ANCHOR_DIR:
            return Path(self.AUDIT_ANCHOR_DIR).expanduser().resolve()
        return self.data_dir / "audit-anchors"

    def jwt_previous_secrets(self) -> list[str]:
        return [secret.get_secret_value() for secret in self.JWT_PREVIOUS_SECRETS]

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # Secrets are SecretStr (their repr is masked); URLs may embed a password, so
        # a repr of the settings (a log line, a traceback) shows them without it.
        for name, value in super().__repr_args__():
            if name in URL_SETTINGS and isinstance(value, str):
                yield name, mask_url_password(value)
            else:
                yield name, value


PRESCRIPTION_KEY_GENERATOR = "medhub crypto generate-prescription-key"
ANCHOR_KEY_GENERATOR = "medhub audit generate-anchor-key"


def _ed25519_key_bytes(
    encoded: str, name: str, *, generator: str = PRESCRIPTION_KEY_GENERATOR
) -> bytes:
    """The 32 bytes of an Ed25519 key written in base64url (padding optional; standard
    base64 is accepted too), or a ConfigurationError naming the setting."""
    text = encoded.strip().replace("-", "+").replace("_", "/")
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigurationError(f"{name} holds a key that is not valid base64url") from exc
    if len(raw) != ED25519_KEY_BYTES:
        raise ConfigurationError(
            f"{name} holds a key of {len(raw)} bytes; Ed25519 keys are {ED25519_KEY_BYTES} "
            f"(`{generator}` prints one)"
        )
    return raw


def _prescription_key_problems(settings: Settings) -> list[str]:
    problems = []
    for check in (settings.prescription_signing_key, settings.prescription_previous_public_keys):
        try:
            check()
        except ConfigurationError as exc:
            problems.append(str(exc))
    return problems


def _audit_anchor_key_problems(settings: Settings) -> list[str]:
    problems = []
    for check in (settings.audit_anchor_signing_key, settings.audit_anchor_previous_public_keys):
        try:
            check()
        except ConfigurationError as exc:
            problems.append(str(exc))
    return problems


def _metrics_problems(settings: Settings) -> list[str]:
    token = settings.metrics_token()
    if token is None:
        if settings.METRICS_PUBLIC:
            return []
        return [
            "METRICS_TOKEN must be set in production (the bearer token Prometheus sends "
            "to /metrics), or METRICS_PUBLIC=true to serve /metrics without one"
        ]
    if len(token) < MIN_SECRET_LENGTH:
        return [f"METRICS_TOKEN must be at least {MIN_SECRET_LENGTH} characters long"]
    return []


def ensure_data_dir(path: Path) -> None:
    """Create DATA_DIR and prove it is writable, or explain why it is not."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-probe"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise ConfigurationError(
            f"DATA_DIR {path} is not writable ({exc.strerror or exc}). "
            "Point DATA_DIR at a directory this user can write to."
        ) from exc


def _generate_secret(name: str) -> str:
    # The key formats of field_crypto.py: version 1 of a 32-byte key, base64.
    if name == "FIELD_ENCRYPTION_KEYS":
        return "1:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    if name == "FIELD_INDEX_KEY":
        return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    if name in ED25519_SECRETS:
        # Any 32 random bytes are an Ed25519 private key (RFC 8032 seeds are not clamped
        # until they are hashed).
        return base64.urlsafe_b64encode(secrets.token_bytes(ED25519_KEY_BYTES)).decode().rstrip("=")
    return secrets.token_urlsafe(48)


def _load_or_create_dev_secrets(data_dir: Path) -> dict[str, str]:
    path = data_dir / "secrets.json"
    stored: dict[str, str] = {}
    if path.exists():
        stored = json.loads(path.read_text())
    missing = [name for name in GENERATED_SECRETS if not stored.get(name)]
    if missing:
        for name in missing:
            stored[name] = _generate_secret(name)
        # Write to a temporary file and rename, so a crash never leaves half a file.
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(stored, handle, indent=2)
        tmp.replace(path)
    return stored


def prepare_settings(settings: Settings) -> Settings:
    """Validate what the service needs before it starts and fill development secrets.

    Production refuses to start without its secrets and an external database;
    development generates the secrets once and keeps them under DATA_DIR.
    """
    problems: list[str] = []
    if settings.is_production:
        for name in GENERATED_SECRETS:
            value = getattr(settings, name)
            if not value:
                problems.append(f"{name} must be set in production")
            elif name in KEY_SECRETS:
                continue
            elif len(value.get_secret_value()) < MIN_SECRET_LENGTH:
                problems.append(f"{name} must be at least {MIN_SECRET_LENGTH} characters long")
        if settings.DATABASE_URL is None:
            problems.append(
                "DATABASE_URL must point at a PostgreSQL cluster in production "
                "(the embedded database is for development)"
            )
        problems.extend(_metrics_problems(settings))
        if settings.PRESCRIPTION_SIGNING_KEY:
            problems.extend(_prescription_key_problems(settings))
        if settings.AUDIT_ANCHOR_SIGNING_KEY:
            problems.extend(_audit_anchor_key_problems(settings))
        if settings.FIELD_ENCRYPTION_KEYS and settings.FIELD_INDEX_KEY:
            try:
                settings.field_keyring()
            except ConfigurationError as exc:
                problems.append(str(exc.__cause__ or exc))
        if problems:
            raise ConfigurationError("Refusing to start: " + "; ".join(problems) + ".")
        ensure_data_dir(settings.data_dir)
        return settings

    ensure_data_dir(settings.data_dir)
    missing = {name for name in GENERATED_SECRETS if not getattr(settings, name)}
    if not missing:
        return settings
    generated = _load_or_create_dev_secrets(settings.data_dir)
    return settings.model_copy(update={name: SecretStr(generated[name]) for name in missing})


def mask_url_password(url: str) -> str:
    """The URL with its password (if any) replaced by `***`."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "***"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


@lru_cache
def get_settings() -> Settings:
    return prepare_settings(Settings())
