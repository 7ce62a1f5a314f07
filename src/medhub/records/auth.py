"""Records are clinical content: the same matrix as consultations (the approved
doctors of the chart's organization write and read, the patient reads their own).

The medical history is the patient's alone (`PATIENT_SELF`), limited per user
(`RATE_LIMIT_MEDICAL_HISTORY`, MedConnect's 10 a minute). The role is checked before
the limit counts: another role's calls are refused without using anyone's allowance.
Its one-time code is the use case's to check."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from medhub.authz.dependencies import per_user_limit
from medhub.authz.principal import Principal
from medhub.consultations.auth import ClinicalRead, ClinicalWrite
from medhub.patients.auth import PatientSelf

RecordsRead = ClinicalRead
RecordsWrite = ClinicalWrite

_HISTORY_LIMIT = per_user_limit("RATE_LIMIT_MEDICAL_HISTORY", "medical_history")


async def medical_history_reader(request: Request, principal: PatientSelf) -> Principal:
    await _HISTORY_LIMIT(request, principal)
    return principal


MedicalHistoryReader = Annotated[Principal, Depends(medical_history_reader)]

__all__ = ["MedicalHistoryReader", "RecordsRead", "RecordsWrite"]
