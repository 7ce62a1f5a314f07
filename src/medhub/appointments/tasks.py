"""Appointment jobs: the reminders."""

from __future__ import annotations

from procrastinate import JobContext

from medhub.appointments import reminders
from medhub.kit.jobs import Backoff, constant, jobs_app, runtime_of

REMINDER_RETRY = Backoff(max_attempts=lambda: 3, base_seconds=constant(30))


# Every minute: a reminder goes out within a minute of its time. procrastinate defers
# one run per minute however many workers are up, and the claim makes even two runs at
# once send each reminder once.
@jobs_app.periodic(cron="* * * * *", periodic_id="send-appointment-reminders")
@jobs_app.task(
    name="medhub.appointments.send_reminders",
    queue="maintenance",
    pass_context=True,
    retry=REMINDER_RETRY,
)
async def send_reminders(context: JobContext, timestamp: int) -> int:
    """Send the due 24-hour and 1-hour reminders; how many went."""
    return await reminders.send_due_reminders(runtime_of(context).database)
