"""`medhub tenants create` and `medhub users create`, run in-process against this test's
database through the same services as the API."""

from __future__ import annotations

import asyncio

import pytest
from typer.testing import CliRunner

from medhub.auth.runtime import build_runtime
from medhub.config import Settings
from medhub.organizations.cli import tenants_app, users_app
from tests.organizations.conftest import AdminSql

STRONG = "Valid-Passw0rd-2024!"


@pytest.fixture
def runner(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    # prepare_database() exports the URLs it resolved; keep them out of later tests.
    monkeypatch.setenv("DATABASE_URL", str(settings.DATABASE_URL))
    monkeypatch.setenv("DATABASE_ADMIN_URL", str(settings.DATABASE_ADMIN_URL))
    return CliRunner()


def values(output: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in output.strip().splitlines())


def test_create_tenant_then_its_admin(
    runner: CliRunner, settings: Settings, admin_sql: AdminSql
) -> None:
    created = runner.invoke(
        tenants_app, ["create", "--name", "North Clinic", "--kind", "clinic"], obj=settings
    )
    assert created.exit_code == 0, created.output
    tenant = values(created.stdout)
    assert tenant["slug"] == "north-clinic"
    assert admin_sql(
        "SELECT name, kind, status FROM organizations WHERE id = %s", [tenant["id"]]
    ) == [("North Clinic", "clinic", "active")]
    again = runner.invoke(
        tenants_app, ["create", "--name", "North Clinic", "--kind", "clinic"], obj=settings
    )
    assert values(again.stdout)["slug"] == "north-clinic-2"

    admin = runner.invoke(
        users_app,
        [
            "create",
            "--email",
            "boss@north.example",
            "--password",
            STRONG,
            "--role",
            "admin",
            "--org",
            "north-clinic",
            "--full-name",
            "Nora North",
        ],
        obj=settings,
    )
    assert admin.exit_code == 0, admin.output
    account = values(admin.stdout)
    assert account["role"] == "admin"
    [(org, full_name, verified, approved, password_hash)] = admin_sql(
        "SELECT organization_id::text, full_name, is_verified, is_approved, password_hash "
        "FROM users WHERE id = %s",
        [account["id"]],
    )
    assert (org, full_name, verified, approved) == (tenant["id"], "Nora North", True, True)
    hasher = build_runtime(settings).hasher
    valid, _ = asyncio.run(hasher.verify(STRONG, password_hash))
    assert valid
    assert admin_sql(
        "SELECT action, organization_id::text FROM activity_logs WHERE entity_id IN (%s, %s) "
        "ORDER BY seq",
        [tenant["id"], account["id"]],
    ) == [("tenant_created", tenant["id"]), ("user_created", tenant["id"])]


def test_create_super_admin_without_organization(
    runner: CliRunner, settings: Settings, admin_sql: AdminSql
) -> None:
    result = runner.invoke(
        users_app,
        ["create", "--email", "ops@medhub.example", "--password", STRONG, "--role", "super_admin"],
        obj=settings,
    )
    assert result.exit_code == 0, result.output
    assert admin_sql(
        "SELECT role, organization_id, full_name, is_verified FROM users WHERE email = %s",
        ["ops@medhub.example"],
    ) == [("super_admin", None, "ops", True)]


def test_tenant_errors_are_clear(
    runner: CliRunner, settings: Settings, admin_sql: AdminSql
) -> None:
    for args, message in (
        (["--name", "X", "--kind", "spaceship"], "must be one of: hospital, clinic"),
        (["--name", "X", "--kind", "clinic", "--slug", "Bad Slug"], "Invalid slug"),
    ):
        result = runner.invoke(tenants_app, ["create", *args], obj=settings)
        assert result.exit_code == 1, args
        assert message in result.output
        assert "Traceback" not in result.output
    first = runner.invoke(
        tenants_app, ["create", "--name", "A", "--kind", "clinic", "--slug", "a"], obj=settings
    )
    assert first.exit_code == 0
    taken = runner.invoke(
        tenants_app, ["create", "--name", "B", "--kind", "clinic", "--slug", "a"], obj=settings
    )
    assert taken.exit_code == 1
    assert "slug: 'a' is taken" in taken.output
    assert admin_sql("SELECT count(*) FROM organizations WHERE slug = 'a'") == [(1,)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "wizard"], "Unknown role 'wizard'"),
        (["--role", "admin"], "pass --org SLUG"),
        (["--role", "admin", "--org", "nowhere"], "No organization has the slug 'nowhere'"),
        (["--role", "sales", "--org", "acme"], "not available in a hospital organization"),
        (["--role", "super_admin", "--org", "acme"], "not available in a hospital organization"),
        (["--role", "patient", "--password", "password"], "Password must contain"),
        (["--role", "patient", "--email", "taken@example.org"], "already exists"),
        (["--role", "patient", "--email", "not-an-email"], "Invalid email address"),
    ],
)
def test_user_errors_are_clear(
    runner: CliRunner, settings: Settings, admin_sql: AdminSql, args: list[str], message: str
) -> None:
    assert (
        runner.invoke(
            tenants_app, ["create", "--name", "Acme", "--kind", "hospital"], obj=settings
        ).exit_code
        == 0
    )
    taken = runner.invoke(
        users_app,
        ["create", "--email", "taken@example.org", "--password", STRONG, "--role", "customer"],
        obj=settings,
    )
    assert taken.exit_code == 0, taken.output
    options = {"--email": "new@example.org", "--password": STRONG}
    for i in range(0, len(args), 2):
        options[args[i]] = args[i + 1]
    argv = ["create"] + [part for pair in options.items() for part in pair]
    result = runner.invoke(users_app, argv, obj=settings)
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert admin_sql("SELECT count(*) FROM users") == [(1,)]
