from __future__ import annotations

from medhub.kit.errors import Conflict, NotFound, PermissionDenied


class PatientNotFound(NotFound):
    default_message = "Patient not found"


class PatientAlreadyDeleted(Conflict):
    default_message = "This patient's chart is already deleted"


class PatientNotDeleted(Conflict):
    default_message = "This patient's chart is not deleted: there is nothing to restore"


class AccountAlreadyHasChart(Conflict):
    default_message = (
        "This patient account already has a chart at this organization; use that chart"
    )


class InvitationNotFound(NotFound):
    # Unknown, expired and used tokens answer alike: a token guesser learns nothing.
    default_message = "This claim link is invalid, expired or already used"


class InvitationForAnotherEmail(PermissionDenied):
    default_message = (
        "This claim link was sent to another email address: log in with the account of"
        " the address that received it"
    )


class DoctorNotApproved(PermissionDenied):
    default_message = (
        "Your doctor account is awaiting approval: an administrator of your hospital or"
        " clinic, or of MedHub, approves it before you can see patients"
    )
