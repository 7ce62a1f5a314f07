"""Settings: development secrets, production refusal, parsing, DATA_DIR checks."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from medhub.config import ConfigurationError, Environment, Settings, prepare_settings

KEYS = {
    "FIELD_ENCRYPTION_KEYS": "1:" + "a" * 43,
    "FIELD_INDEX_KEY": "b" * 43,
    "PRESCRIPTION_SIGNING_KEY": "c" * 43,
    "AUDIT_ANCHOR_SIGNING_KEY": "d" * 43,
}


def make(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_defaults_match_the_documented_table() -> None:
    settings = make()
    assert settings.ENV is Environment.development
    assert (settings.HOST, settings.PORT) == ("127.0.0.1", 8000)
    assert settings.DATA_DIR == Path("./var")
    assert settings.DATABASE_URL is None
    assert settings.DATABASE_POOL_SIZE == 20
    assert settings.uses_embedded_database


def test_development_generates_secrets_once_and_keeps_them(tmp_path: Path) -> None:
    first = prepare_settings(make(DATA_DIR=tmp_path))
    second = prepare_settings(make(DATA_DIR=tmp_path))
    assert first.JWT_SECRET
    assert len(first.jwt_secret()) >= 32
    assert first.jwt_secret() == second.jwt_secret()
    secrets_file = tmp_path / "secrets.json"
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600


def test_explicit_secret_wins_over_generated(tmp_path: Path) -> None:
    settings = prepare_settings(make(DATA_DIR=tmp_path, JWT_SECRET="s" * 40, **KEYS))
    assert settings.jwt_secret() == "s" * 40
    assert not (tmp_path / "secrets.json").exists()


def test_production_refuses_to_start_without_secrets(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        prepare_settings(make(ENV="production", DATA_DIR=tmp_path))
    message = str(caught.value)
    assert "JWT_SECRET must be set in production" in message
    assert "FIELD_ENCRYPTION_KEYS must be set in production" in message
    assert "FIELD_INDEX_KEY must be set in production" in message
    assert "DATABASE_URL must point at a PostgreSQL cluster" in message
    assert not (tmp_path / "secrets.json").exists(), "production never generates secrets"


def test_development_generates_working_field_keys_once(tmp_path: Path) -> None:
    first = prepare_settings(make(DATA_DIR=tmp_path)).field_keyring()
    second = prepare_settings(make(DATA_DIR=tmp_path)).field_keyring()
    assert first == second
    assert first.current_version == 1
    assert second.decrypt(first.encrypt("A-123", "t.c"), "t.c") == "A-123"


@pytest.mark.parametrize(
    ("keys", "fault"),
    [
        ("abc", "'version:base64key'"),
        ("1:" + "a" * 10, "must decode to 32 bytes"),
        ("0:" + "a" * 43, "key versions run from 1 to 255"),
        ("1:" + "a" * 43 + ",1:" + "b" * 43, "version 1 is given twice"),
    ],
)
def test_production_refuses_malformed_field_keys(tmp_path: Path, keys: str, fault: str) -> None:
    with pytest.raises(ConfigurationError, match=fault):
        prepare_settings(
            make(
                **{
                    **PRODUCTION,
                    "METRICS_PUBLIC": True,
                    "DATA_DIR": tmp_path,
                    "FIELD_ENCRYPTION_KEYS": keys,
                }
            )
        )


def test_production_refuses_a_short_secret(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="at least 32 characters"):
        prepare_settings(
            make(
                ENV="production",
                DATA_DIR=tmp_path,
                JWT_SECRET="short",
                DATABASE_URL="postgresql://a@h/db",
            )
        )


def test_production_with_everything_set_starts(tmp_path: Path) -> None:
    settings = prepare_settings(
        make(
            ENV="production",
            DATA_DIR=tmp_path,
            JWT_SECRET="p" * 48,
            DATABASE_URL="postgresql://a@h/db",
            METRICS_TOKEN="m" * 40,
            **KEYS,
        )
    )
    assert settings.is_production


PRODUCTION = {
    "ENV": "production",
    "JWT_SECRET": "p" * 48,
    "DATABASE_URL": "postgresql://a@h/db",
    **KEYS,
}


def test_production_refuses_to_start_with_public_metrics_by_default(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        prepare_settings(make(DATA_DIR=tmp_path, **PRODUCTION))
    message = str(caught.value)
    assert "METRICS_TOKEN must be set in production" in message
    assert "METRICS_PUBLIC=true" in message
    with pytest.raises(ConfigurationError, match="METRICS_TOKEN must be set"):
        prepare_settings(make(DATA_DIR=tmp_path, METRICS_TOKEN="", **PRODUCTION))


def test_production_refuses_a_short_metrics_token(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="METRICS_TOKEN must be at least 32"):
        prepare_settings(make(DATA_DIR=tmp_path, METRICS_TOKEN="short", **PRODUCTION))


def test_production_starts_with_metrics_declared_public(tmp_path: Path) -> None:
    settings = prepare_settings(make(DATA_DIR=tmp_path, METRICS_PUBLIC="true", **PRODUCTION))
    assert settings.METRICS_PUBLIC
    assert settings.metrics_token() is None


def test_metrics_token_is_a_secret(tmp_path: Path) -> None:
    settings = prepare_settings(make(DATA_DIR=tmp_path, METRICS_TOKEN="m" * 40, **PRODUCTION))
    assert settings.metrics_token() == "m" * 40
    assert "m" * 40 not in repr(settings)
    assert "m" * 40 not in str(settings.model_dump())


def test_development_needs_no_metrics_token(tmp_path: Path) -> None:
    settings = prepare_settings(make(DATA_DIR=tmp_path))
    assert settings.metrics_token() is None
    assert not settings.METRICS_PUBLIC


def test_data_dir_that_cannot_be_created_is_explained(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigurationError, match=r"DATA_DIR .* is not writable"):
        prepare_settings(make(DATA_DIR=blocker / "sub"))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://a.org, https://b.org", ["https://a.org", "https://b.org"]),
        ('["https://a.org"]', ["https://a.org"]),
        ("", []),
    ],
)
def test_cors_origins_accept_commas_or_json(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: list[str]
) -> None:
    monkeypatch.setenv("CORS_ORIGINS", raw)
    assert make().CORS_ORIGINS == expected


def test_invalid_values_are_rejected_with_the_field_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "not-a-port")
    with pytest.raises(ValueError, match="PORT"):
        make()
    monkeypatch.setenv("PORT", "8000")
    monkeypatch.setenv("LOG_LEVEL", "chatty")
    with pytest.raises(ValueError, match="LOG_LEVEL"):
        make()


def test_production_refuses_to_start_without_the_audit_anchor_key(tmp_path: Path) -> None:
    values = {**PRODUCTION, "METRICS_PUBLIC": True, "DATA_DIR": tmp_path}
    del values["AUDIT_ANCHOR_SIGNING_KEY"]
    with pytest.raises(ConfigurationError, match="AUDIT_ANCHOR_SIGNING_KEY must be set"):
        prepare_settings(make(**values))
    with pytest.raises(
        ConfigurationError,
        match=r"AUDIT_ANCHOR_SIGNING_KEY holds a key of 3 bytes.*medhub audit generate-anchor-key",
    ):
        prepare_settings(make(**values, AUDIT_ANCHOR_SIGNING_KEY="abcd"))
    with pytest.raises(ConfigurationError, match="AUDIT_ANCHOR_PREVIOUS_PUBLIC_KEYS"):
        prepare_settings(
            make(
                **values,
                AUDIT_ANCHOR_SIGNING_KEY="d" * 43,
                AUDIT_ANCHOR_PREVIOUS_PUBLIC_KEYS="abcd",
            )
        )
    settings = prepare_settings(make(**values, AUDIT_ANCHOR_SIGNING_KEY="d" * 43))
    assert settings.audit_anchor_signing_key()
    assert "d" * 43 not in repr(settings)
    assert not (tmp_path / "secrets.json").exists()


def test_development_generates_the_audit_anchor_key_once(tmp_path: Path) -> None:
    first = prepare_settings(make(DATA_DIR=tmp_path))
    second = prepare_settings(make(DATA_DIR=tmp_path))
    key = first.audit_anchor_signing_key()
    assert key.private_bytes_raw() == second.audit_anchor_signing_key().private_bytes_raw()
    assert key.private_bytes_raw() != first.prescription_signing_key().private_bytes_raw()


def test_audit_anchors_go_under_data_dir_unless_told(tmp_path: Path) -> None:
    assert make(DATA_DIR=tmp_path).audit_anchor_dir == tmp_path.resolve() / "audit-anchors"
    assert make(AUDIT_ANCHOR_DIR=str(tmp_path / "x")).audit_anchor_dir == tmp_path / "x"
    assert make(AUDIT_ANCHOR_DIR="-").audit_anchor_dir is None
    assert make().AUDIT_ANCHOR_INTERVAL_MINUTES == 60
    with pytest.raises(ValueError, match="AUDIT_ANCHOR_INTERVAL_MINUTES"):
        make(AUDIT_ANCHOR_INTERVAL_MINUTES=0)
