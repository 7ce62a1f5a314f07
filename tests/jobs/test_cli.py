"""`medhub email preview` and `medhub worker --help`, run in-process with typer's runner."""

from __future__ import annotations

import email
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from medhub.cli import app
from medhub.config import get_settings
from medhub.kit.logging import configure_logging


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[CliRunner]:
    """Settings from a clean environment with a DATA_DIR of this test's own."""
    cleared = {
        key: None
        for key in os.environ
        if key.startswith(("DATABASE_", "JWT_", "EMAIL_", "SMTP_")) or key in ("ENV", "DATA_DIR")
    }
    env = {
        **cleared,
        "DATA_DIR": str(tmp_path / "data"),
        "FRONTEND_URL": "https://preview.medhub.test",
        "LOG_LEVEL": "INFO",
        "LOG_JSON": "true",
    }
    get_settings.cache_clear()
    try:
        yield CliRunner(env=env)
    finally:
        get_settings.cache_clear()
        configure_logging("INFO", json=True)  # as the test session had it


def invoke(cli: CliRunner, *args: str) -> Result:
    return cli.invoke(app, list(args), catch_exceptions=False)


def test_preview_prints_subject_and_text(cli: CliRunner) -> None:
    result = invoke(cli, "email", "preview", "welcome")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Subject: Welcome to MedHub\n\n")
    assert "Hello Ann Lee," in result.stdout
    assert "Your MedHub account (patient) has been created." in result.stdout
    assert "https://preview.medhub.test/login" in result.stdout


def test_preview_renders_every_template_with_its_sample(cli: CliRunner) -> None:
    for template in ("verify_email", "password_reset", "otp", "welcome"):
        result = invoke(cli, "email", "preview", template)
        assert result.exit_code == 0, (template, result.output)
        assert result.stdout.startswith("Subject: ")
    verify = invoke(cli, "email", "preview", "verify_email").stdout
    assert (
        "https://preview.medhub.test/verify-email?token=sample-verification-token-0123456789"
        in verify
    )


def test_preview_writes_an_eml_file(cli: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "otp.eml"
    result = invoke(cli, "email", "preview", "otp", "--output", str(target))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"wrote {target}"
    message = email.message_from_bytes(target.read_bytes())
    assert message.get_content_type() == "multipart/alternative"
    assert message["To"] == "preview@example.org"
    assert message["X-MedHub-Template"] == "otp"
    types = [part.get_content_type() for part in message.walk()]
    assert types == ["multipart/alternative", "text/plain", "text/html"]


def test_preview_of_an_unknown_template_exits_1_and_lists_the_known(cli: CliRunner) -> None:
    result = invoke(cli, "email", "preview", "nope")
    assert result.exit_code == 1
    assert "unknown template 'nope'" in result.stderr
    assert "welcome" in result.stderr
    assert "verify_email" in result.stderr
    assert result.stdout == ""


def test_worker_help(cli: CliRunner) -> None:
    result = invoke(cli, "worker", "--help")
    assert result.exit_code == 0, result.output
    assert "--concurrency" in result.stdout
    assert "--queues" in result.stdout
    assert "SIGINT/SIGTERM" in result.stdout


def test_serve_help_offers_no_worker(cli: CliRunner) -> None:
    result = invoke(cli, "serve", "--help")
    assert result.exit_code == 0, result.output
    assert "--no-worker" in result.stdout
