from __future__ import annotations

from medhub.kit.errors import Conflict, NotFound, PermissionDenied


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


class AwaitingApproval(PermissionDenied):
    default_message = (
        "Your doctor account is awaiting approval: an administrator of your hospital or"
        " clinic, or of MedHub, approves it before you can act as a doctor"
    )
