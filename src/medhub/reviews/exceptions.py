from __future__ import annotations

from medhub.kit.errors import Conflict, NotFound


class ReviewNotFound(NotFound):
    default_message = "Review not found"


class AppointmentNotFound(NotFound):
    default_message = "Appointment not found"


class AppointmentNotCompleted(Conflict):
    code = "APPOINTMENT_NOT_COMPLETED"
    default_message = "A doctor is reviewed after the appointment: this one is not completed yet"


class ReviewAlreadyExists(Conflict):
    code = "REVIEW_ALREADY_EXISTS"
    default_message = "This appointment has a review already: edit it with PUT /api/v1/reviews/{id}"


class ReviewEditWindowClosed(Conflict):
    code = "REVIEW_EDIT_WINDOW_CLOSED"
    default_message = "A review can be edited for 30 days after it was written"


class ReviewAlreadyReported(Conflict):
    code = "REVIEW_ALREADY_REPORTED"
    default_message = "You have reported this review already"


class ReviewAlreadyHidden(Conflict):
    code = "REVIEW_ALREADY_HIDDEN"
    default_message = "This review is hidden already"


class ReviewNotHidden(Conflict):
    code = "REVIEW_NOT_HIDDEN"
    default_message = "This review is not hidden"
