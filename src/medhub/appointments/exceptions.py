from __future__ import annotations

from medhub.kit.errors import Conflict, InvalidStateTransition, NotFound


class AppointmentNotFound(NotFound):
    default_message = "Appointment not found"


class SlotUnavailable(Conflict):
    """Outside the doctor's hours, in the past or too soon, or taken (by a booking that
    got there first: the exclusion constraint's refusal answers the same)."""

    code = "SLOT_UNAVAILABLE"
    default_message = (
        "This time is not free: pick one of the doctor's free slots"
        " (GET /api/v1/doctors/{id}/slots)"
    )


class PatientAlreadyBooked(Conflict):
    """The patient holds another appointment overlapping this time (with any doctor)."""

    code = "PATIENT_ALREADY_BOOKED"
    default_message = "The patient already has an appointment at this time"


class AppointmentStateConflict(InvalidStateTransition):
    default_message = "The appointment cannot make this change in its current state"
