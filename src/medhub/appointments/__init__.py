"""Appointments: booking free slots, rescheduling, the lifecycle, invitations, reminders."""
