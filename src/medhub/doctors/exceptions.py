from __future__ import annotations

from medhub.kit.errors import Conflict, NotFound


class DoctorNotFound(NotFound):
    default_message = "Doctor not found"


class ProfileNotFound(NotFound):
    default_message = (
        "This doctor has no profile yet: the doctor creates it with PUT /api/v1/doctors/me/profile"
    )


class ProfileRequired(Conflict):
    default_message = (
        "Availability belongs to a doctor's profile: create it first with"
        " PUT /api/v1/doctors/me/profile"
    )
