from __future__ import annotations

from medhub.kit.errors import Conflict, InvalidStateTransition, NotFound


class ConsultationNotFound(NotFound):
    default_message = "Consultation not found"


class AppointmentNotFound(NotFound):
    default_message = "Appointment not found"


class AppointmentNotOpen(Conflict):
    default_message = "This appointment was cancelled or missed: it has no consultation"


class ConsultationClosed(Conflict):
    """A completed (or cancelled) consultation is the record of what happened: its
    clinical content no longer changes (a correction is a new medical record)."""

    default_message = (
        "This consultation is closed: its clinical content can no longer change"
        " (add a medical record to the chart instead)"
    )


class ConsultationTransitionRefused(InvalidStateTransition):
    default_message = "This consultation cannot move to that status"


class DoctorProfileRequired(Conflict):
    default_message = (
        "A consultation is held by a doctor with a profile: create yours first with"
        " PUT /api/v1/doctors/me/profile"
    )
