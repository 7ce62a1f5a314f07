"""Who reaches prescriptions (issue 15's access matrix, `authz/permissions.py`):

- doctors (approved, of a hospital or clinic, with a verified email address) write
  them, and (approved) read their organization's; the organization's admins list
  them without the clinical text;
- patients read their own (`/patients/prescriptions`) and their QR codes;
- pharmacists reach one only by presenting its QR code or reference number, and act
  on it afterwards; a pharmacy's admins and pharmacists read its history.

The seed's per-user limits are counted after the role check: another role's calls
are refused without using anyone's allowance.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from medhub.authz.dependencies import CurrentPrincipal, per_user_limit, require_verified
from medhub.authz.permissions import Action, can
from medhub.authz.principal import Principal
from medhub.doctors.auth import approved_doctor
from medhub.kit.errors import PermissionDenied

_CREATE_LIMIT = per_user_limit("RATE_LIMIT_PRESCRIPTION_CREATE", "prescription_create")
_QR_EMAIL_LIMIT = per_user_limit("RATE_LIMIT_QR_EMAIL", "qr_email")
_SCAN_LIMIT = per_user_limit("RATE_LIMIT_PHARMACY_SCAN", "pharmacy_scan")
_OPERATIONS_LIMIT = per_user_limit("RATE_LIMIT_PHARMACY_OPERATIONS", "pharmacy_operations")


async def _prescriber(principal: CurrentPrincipal) -> Principal:
    if not can(principal.role, Action.PRESCRIPTIONS_WRITE):
        raise PermissionDenied(f"Only doctors write prescriptions (your role: {principal.role})")
    # Issue 15: "only approved, verified doctors". A prescription reveals medical data
    # and reaches a patient's inbox: the same 403 as any verified-only action.
    return require_verified(await approved_doctor(principal))


async def prescriber_limited(request: Request, principal: CurrentPrincipal) -> Principal:
    doctor = await _prescriber(principal)
    await _CREATE_LIMIT(request, doctor)
    return doctor


async def organization_reader(principal: CurrentPrincipal) -> Principal:
    """The organization's approved doctors, and its admins (who see no clinical text)."""
    if not can(principal.role, Action.PRESCRIPTIONS_READ):
        raise PermissionDenied(
            f"Prescriptions are listed for their organization's doctors and admins (your role:"
            f" {principal.role})"
        )
    if can(principal.role, Action.DOCTOR_SELF_MANAGE):
        return await approved_doctor(principal)
    if principal.organization_id is None:
        raise PermissionDenied("Prescriptions belong to an organization, and you have none")
    return principal


async def patient_self(principal: CurrentPrincipal) -> Principal:
    if not can(principal.role, Action.PATIENT_SELF):
        raise PermissionDenied(f"Only patients have this (your role: {principal.role})")
    principal.require_user_id()
    return principal


async def _qr_reader(principal: CurrentPrincipal) -> Principal:
    """A prescription's QR code: its doctors and its patient."""
    if can(principal.role, Action.PATIENT_SELF):
        return await patient_self(principal)
    if can(principal.role, Action.PRESCRIPTIONS_WRITE):
        return await approved_doctor(principal)
    raise PermissionDenied(
        f"A prescription's QR code is for its doctors and its patient (your role: {principal.role})"
    )


async def qr_reader(principal: CurrentPrincipal) -> Principal:
    return await _qr_reader(principal)


async def qr_emailer(request: Request, principal: CurrentPrincipal) -> Principal:
    reader = await _qr_reader(principal)
    await _QR_EMAIL_LIMIT(request, reader)
    return reader


def _pharmacist(
    limit: Callable[[Request, Principal], Awaitable[None]],
) -> Callable[[Request, Principal], Awaitable[Principal]]:
    async def dependency(request: Request, principal: CurrentPrincipal) -> Principal:
        if not can(principal.role, Action.PRESCRIPTIONS_DISPENSE):
            raise PermissionDenied(
                f"Only pharmacists scan and dispense prescriptions (your role: {principal.role})"
            )
        if principal.organization_id is None:
            raise PermissionDenied("A pharmacist acts for a pharmacy, and you belong to none")
        await limit(request, principal)
        return principal

    return dependency


async def history_reader(principal: CurrentPrincipal) -> Principal:
    if not can(principal.role, Action.PHARMACY_HISTORY_READ):
        raise PermissionDenied(
            f"A pharmacy's history is for its admins and pharmacists (your role: {principal.role})"
        )
    if principal.organization_id is None:
        raise PermissionDenied("A pharmacy's history belongs to an organization, and you have none")
    return principal


PrescriptionsWrite = Annotated[Principal, Depends(prescriber_limited)]
PrescriptionsManage = Annotated[Principal, Depends(_prescriber)]
PrescriptionsRead = Annotated[Principal, Depends(organization_reader)]
PatientPrescriptions = Annotated[Principal, Depends(patient_self)]
QrCodeReader = Annotated[Principal, Depends(qr_reader)]
QrCodeEmailer = Annotated[Principal, Depends(qr_emailer)]
PharmacyScan = Annotated[Principal, Depends(_pharmacist(_SCAN_LIMIT))]
PharmacyOperations = Annotated[Principal, Depends(_pharmacist(_OPERATIONS_LIMIT))]
PharmacyHistory = Annotated[Principal, Depends(history_reader)]
