"""Who may use the upload routes (issue 12's access matrix, `authz/permissions.py`).

Which chart or file a caller then reaches is the service's (the patients service's
chart scope, `document_access`): these dependencies only decide who may ask at all.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from medhub.authz.dependencies import CurrentPrincipal, UserPrincipal
from medhub.authz.permissions import Action, can
from medhub.authz.principal import Principal
from medhub.consultations.auth import ClinicalWrite
from medhub.doctors.auth import approved_doctor
from medhub.kit.errors import PermissionDenied


async def chart_documents_uploader(principal: CurrentPrincipal) -> Principal:
    """The staff who may change a chart's demographics (the organization's admins and
    approved doctors), or a patient (their own linked charts)."""
    if can(principal.role, Action.PATIENT_SELF):
        principal.require_user_id()
        return principal
    if not can(principal.role, Action.PATIENTS_WRITE):
        raise PermissionDenied(
            "Patients' documents are uploaded by the organization's staff and by the patient"
            f" (your role: {principal.role})"
        )
    if can(principal.role, Action.DOCTOR_SELF_MANAGE):
        return await approved_doctor(principal)
    if principal.organization_id is None:
        raise PermissionDenied("Patients' charts belong to an organization, and you have none")
    return principal


# A chart's documents: staff with PATIENTS_WRITE, or the patient.
ChartDocumentsUpload = Annotated[Principal, Depends(chart_documents_uploader)]
# Medical files: clinical content, the organization's approved doctors.
MedicalFilesUpload = ClinicalWrite
# One's own documents: any person (not an API key), whatever the role.
OwnDocumentsUpload = UserPrincipal
# Reading and deleting: anyone signed in; what they reach is the service's.
UploadsAccess = CurrentPrincipal
