"""Authentication jobs: the owner's alert about throttled logins, forgetting old counters."""

from __future__ import annotations

import uuid

from procrastinate import JobContext

from medhub.auth import recovery, throttle
from medhub.kit.errors import NotFound
from medhub.kit.jobs import Backoff, constant, jobs_app, runtime_of
from medhub.kit.tenancy import set_system_context
from medhub.users import service as users

AUTH_JOB_RETRY = Backoff(max_attempts=lambda: 5, base_seconds=constant(30))


@jobs_app.task(
    name="medhub.auth.alert_failed_logins", queue="default", pass_context=True, retry=AUTH_JOB_RETRY
)
async def alert_failed_logins(context: JobContext, user_id: str | None, ip: str) -> bool:
    """Email the owner a reset link after a burst of wrong passwords.

    Deferred for unknown emails too (without a user), so a login that crosses the
    threshold costs the same whether or not the account exists; those runs do nothing.
    """
    if user_id is None:
        return False
    runtime = runtime_of(context)
    async with runtime.database.unit_of_work() as session:
        await set_system_context(session)
        try:
            user = await users.get_user(session, uuid.UUID(user_id))
        except NotFound:
            return False
        if not user.is_active:
            return False
        await recovery.send_failed_login_alert(session, runtime.settings, user, ip=ip)
    return True


@jobs_app.periodic(cron="23 * * * *", periodic_id="prune-login-failures")
@jobs_app.task(
    name="medhub.auth.prune_login_failures",
    queue="maintenance",
    pass_context=True,
    retry=AUTH_JOB_RETRY,
)
async def prune_login_failures(context: JobContext, timestamp: int) -> int:
    """Counters whose window, throttle and alert are all over are forgotten."""
    runtime = runtime_of(context)
    async with runtime.database.unit_of_work() as session:
        return await throttle.prune(session, runtime.settings)
