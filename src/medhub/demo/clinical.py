"""Seeding the clinical demo (issue 12), through the same services as the API.

The super admin provisions a hospital and a clinic with their admins, the admins add
their doctors (who fill in their profiles and weekly hours), one doctor signs up alone
and waits for approval; the admins register patient charts (five of them for people
with verified patient accounts, linked by email as the API links them) and the doctors
record allergies; appointments are booked, confirmed, started, completed and cancelled
through the appointment and consultation services, and the doctors write medical
records. Natural keys: organization slugs, emails, a chart's names and date of birth,
an appointment's doctor and reason, a record's chart, kind and title.

Booking refuses the past: an appointment that is already under way, finished or
missed has to have been booked earlier, so it is recorded as an earlier booking
(`appointments.booking.record_earlier_booking`) and then moved through the lifecycle
like any other.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from medhub.appointments import booking
from medhub.appointments import lifecycle as appointment_lifecycle
from medhub.appointments import service as appointments
from medhub.appointments.schemas import AppointmentCreate
from medhub.audit import service as audit
from medhub.authz.principal import AuthMethod, Principal
from medhub.consultations import lifecycle as consultation_lifecycle
from medhub.consultations import service as consultations
from medhub.consultations import video
from medhub.consultations.schemas import ConsultationUpdate, Vitals
from medhub.demo.common import Cast, Credential, SeedRun, act_as, principal_of
from medhub.demo.data import (
    APPOINTMENTS,
    CARE_ORGANIZATIONS,
    CLINICAL_TIMEZONE,
    DEMO_DOCTOR,
    DEMO_PASSWORD,
    DEMO_PATIENT,
    DOCTORS,
    RECORDS,
    STORY_CHARTS,
    DemoAppointment,
    DemoCareOrganization,
    DemoChart,
    DemoDoctor,
    DemoRecord,
    charts_of,
)
from medhub.doctors import directory
from medhub.doctors import service as doctors
from medhub.doctors.schemas import AvailabilityWrite, DoctorProfileWrite, RuleWrite
from medhub.kit.errors import NotFound
from medhub.kit.tenancy import set_system_context
from medhub.models.appointments import (
    Appointment,
    AppointmentStatus,
    AppointmentType,
)
from medhub.models.consultations import Consultation, ConsultationStatus, MedicalRecord
from medhub.models.identity import Role, User
from medhub.models.patients import Patient
from medhub.organizations import members, tenants
from medhub.organizations.schemas import MemberCreate, TenantAdmin, TenantCreate
from medhub.patients import profile as patient_profiles
from medhub.patients import service as patients
from medhub.patients.schemas import (
    Address as ChartAddress,
)
from medhub.patients.schemas import (
    EmergencyContact,
    PatientCreate,
    PatientProfileUpdate,
    PatientUpdate,
)
from medhub.records import service as records
from medhub.records.schemas import RecordCreate
from medhub.users import service as users

ORGANIZING = "Care orgs"
STAFFING = "Doctors"
CHARTING = "Charts"
VISITING = "Visits"
RECORDING = "Records"


def clinical_credentials() -> list[Credential]:
    """The hospital's and the clinic's admins, a doctor, a patient, and the independent
    doctor still waiting for approval."""
    names = {o.key: o.name for o in CARE_ORGANIZATIONS}
    doctor = next(d for d in DOCTORS if d.key == DEMO_DOCTOR)
    waiting = next(d for d in DOCTORS if d.organization is None)
    patient = next(c for c in STORY_CHARTS if c.key == DEMO_PATIENT)
    assert patient.email is not None  # an account's chart carries its email
    return [
        *(Credential(o.admin_email, DEMO_PASSWORD, "admin", o.name) for o in CARE_ORGANIZATIONS),
        Credential(doctor.email, DEMO_PASSWORD, "doctor", names.get(doctor.organization or "", "")),
        Credential(patient.email, DEMO_PASSWORD, "patient", "own charts at every organization"),
        Credential(waiting.email, DEMO_PASSWORD, "doctor", "independent, awaiting approval"),
    ]


# Clinical demo: care organizations and their doctors


@dataclass
class Clinic:
    """The clinical demo's people as the principals they act as, and its charts."""

    organizations: dict[str, uuid.UUID] = field(default_factory=dict)
    admins: dict[str, Principal] = field(default_factory=dict)
    doctors: dict[str, Principal] = field(default_factory=dict)
    # The story charts (DemoChart.key) at their own organization, and their accounts.
    charts: dict[str, uuid.UUID] = field(default_factory=dict)
    accounts: dict[str, Principal] = field(default_factory=dict)

    def doctor_of(self, organization: str) -> Principal:
        """The organization's first doctor: who records what its charts need."""
        key = next(d.key for d in DOCTORS if d.organization == organization)
        return self.doctors[key]


def _demo_doctor(key: str) -> DemoDoctor:
    return next(d for d in DOCTORS if d.key == key)


async def seed_care_organizations(run: SeedRun, cast: Cast) -> Clinic:
    """The hospital and the clinic, each with its first admin, provisioned by the super
    admin (as `POST /tenants` does)."""
    tally = run.report.tallies["care organizations"]
    operator = cast.principals["superadmin"]
    clinic = Clinic()
    for done, demo in enumerate(CARE_ORGANIZATIONS, start=1):
        async with run.database.unit_of_work() as session:
            await set_system_context(session)
            organization = await tenants.find_by_slug(session, demo.slug)
            if organization is None:
                await act_as(session, operator)
                organization, admin = await tenants.provision_tenant(
                    session, run.hasher, operator, _tenant(demo)
                )
                tally.created += 1
            else:
                found = await users.find_by_email(session, demo.admin_email)
                if found is None:
                    raise NotFound(
                        f"The organization {demo.slug!r} exists but its demo admin "
                        f"{demo.admin_email} does not"
                    )
                admin = found
                tally.existing += 1
            clinic.organizations[demo.key] = organization.id
            clinic.admins[demo.key] = principal_of(admin)
        run.progress(ORGANIZING, done, len(CARE_ORGANIZATIONS))
    return clinic


def _tenant(demo: DemoCareOrganization) -> TenantCreate:
    return TenantCreate(
        name=demo.name,
        kind=demo.kind,
        slug=demo.slug,
        admin=TenantAdmin(
            email=demo.admin_email, password=DEMO_PASSWORD, full_name=demo.admin_name
        ),
    )


async def seed_doctors(run: SeedRun, clinic: Clinic) -> None:
    """Each doctor's account (added by their organization's admin, or signed up alone),
    profile and weekly hours, in one unit of work per doctor."""
    tally = run.report.tallies["doctors"]
    for done, demo in enumerate(DOCTORS, start=1):
        async with run.database.unit_of_work() as session:
            await set_system_context(session)
            user = await users.find_by_email(session, demo.email)
            if user is None:
                user = await _doctor_account(run, session, clinic, demo)
                doctor = principal_of(user)
                await act_as(session, doctor)
                await doctors.save_own_profile(session, doctor, _profile(demo))
                await doctors.replace_availability(session, doctor, _availability(demo))
                tally.created += 1
            else:
                tally.existing += 1
            clinic.doctors[demo.key] = principal_of(user)
        run.progress(STAFFING, done, len(DOCTORS))


async def _doctor_account(
    run: SeedRun, session: AsyncSession, clinic: Clinic, demo: DemoDoctor
) -> User:
    if demo.organization is not None:
        admin = clinic.admins[demo.organization]
        await act_as(session, admin)
        return await members.create_member(
            session,
            run.hasher,
            admin,
            MemberCreate(
                email=demo.email,
                password=DEMO_PASSWORD,
                full_name=demo.full_name,
                role=Role.doctor,
                phone=demo.phone,
            ),
        )
    # Signed up alone (POST /auth/register with role doctor): not approved, so not
    # listed or bookable until a super admin approves them. Verified already, so the
    # demo can log in and show what such a doctor prepares while waiting.
    user = await users.create_user(
        session,
        run.hasher,
        email=demo.email,
        password=DEMO_PASSWORD,
        full_name=demo.full_name,
        role=Role.doctor.value,
        phone=demo.phone,
        is_verified=True,
        is_approved=False,
    )
    audit.record(
        session,
        "user_registered",
        user_id=user.id,
        entity_type="user",
        entity_id=user.id,
        metadata={"role": user.role, "via": "seed demo"},
    )
    return user


def _profile(demo: DemoDoctor) -> DoctorProfileWrite:
    return DoctorProfileWrite(
        specialty=demo.specialty,
        license_number=demo.license_number,
        qualifications=list(demo.qualifications),
        years_of_experience=demo.years_of_experience,
        bio=demo.bio,
        languages=list(demo.languages),
        consultation_fee=demo.fee,
        currency="EUR",
        offers_video=demo.offers_video,
        is_listed=True,
        timezone=CLINICAL_TIMEZONE,
    )


def _availability(demo: DemoDoctor) -> AvailabilityWrite:
    return AvailabilityWrite(
        timezone=CLINICAL_TIMEZONE,
        rules=[
            RuleWrite(
                weekday=weekday, start=hours.start, end=hours.end, slot_minutes=hours.slot_minutes
            )
            for hours in demo.hours
            for weekday in hours.weekdays
        ],
    )


# Clinical demo: patients


async def seed_charts(run: SeedRun, clinic: Clinic, per_organization: int) -> None:
    """The charts of each organization, registered by its admin; a chart whose person
    has a patient account is linked to it by its email; allergies and chronic
    conditions are clinical, so the organization's doctor adds them."""
    charts, accounts = run.report.tallies["charts"], run.report.tallies["patient accounts"]
    wanted = [(o, c) for o in CARE_ORGANIZATIONS for c in charts_of(o, per_organization)]
    present: dict[str, dict[tuple[str, str, date], tuple[uuid.UUID, uuid.UUID | None]]] = {}
    for organization in CARE_ORGANIZATIONS:
        async with run.database.unit_of_work() as session:
            await act_as(session, clinic.admins[organization.key])
            present[organization.key] = await _charts_present(
                session, clinic.organizations[organization.key]
            )
    for done, (organization, demo) in enumerate(wanted, start=1):
        found = present[organization.key].get((demo.first_name, demo.last_name, demo.date_of_birth))
        if found is not None:
            chart_id, user_id = found
            charts.existing += 1
            accounts.existing += demo.account
        else:
            async with run.database.unit_of_work() as session:
                user_id = await _patient_account(run, session, demo) if demo.account else None
                chart_id = await _register_chart(session, clinic, organization, demo)
            charts.created += 1
        if demo in STORY_CHARTS:
            clinic.charts[demo.key] = chart_id
            if demo.account and user_id is not None:
                clinic.accounts[demo.key] = _patient_principal(user_id)
        run.progress(CHARTING, done, len(wanted))


async def _charts_present(
    session: AsyncSession, organization_id: uuid.UUID
) -> dict[tuple[str, str, date], tuple[uuid.UUID, uuid.UUID | None]]:
    """(first name, last name, date of birth) → (chart id, linked account) of the
    organization's live charts. Read from the table, not through the patients service:
    its reads are audited, and a second run must add nothing, audit rows included."""
    rows = await session.execute(
        select(
            Patient.first_name,
            Patient.last_name,
            Patient.date_of_birth,
            Patient.id,
            Patient.user_id,
        ).where(Patient.organization_id == organization_id, Patient.deleted_at.is_(None))
    )
    return {(first, last, born): (id_, user_id) for first, last, born, id_, user_id in rows.all()}


def _patient_principal(user_id: uuid.UUID) -> Principal:
    return Principal(
        role=Role.patient.value,
        organization_id=None,
        method=AuthMethod.bearer,
        user_id=user_id,
        is_verified=True,
        is_approved=True,
    )


async def _patient_account(run: SeedRun, session: AsyncSession, demo: DemoChart) -> uuid.UUID:
    """The person's verified patient account (as after signing up and clicking the
    verification link) with their own profile; found if it exists."""
    assert demo.email is not None  # an account's chart carries its email
    tally = run.report.tallies["patient accounts"]
    await set_system_context(session)
    user = await users.find_by_email(session, demo.email)
    if user is not None:
        tally.existing += 1
        return user.id
    user = await users.create_user(
        session,
        run.hasher,
        email=demo.email,
        password=DEMO_PASSWORD,
        full_name=f"{demo.first_name} {demo.last_name}",
        role=Role.patient.value,
        is_verified=True,
    )
    audit.record(
        session,
        "user_created",
        entity_type="user",
        entity_id=user.id,
        metadata={"role": user.role, "via": "seed demo"},
    )
    patient = _patient_principal(user.id)
    await act_as(session, patient)
    await patient_profiles.save_own_profile(
        session,
        patient,
        PatientProfileUpdate(
            date_of_birth=demo.date_of_birth,
            sex=demo.sex,
            timezone=CLINICAL_TIMEZONE,
            phone=demo.phone,
            allergies=list(demo.allergies) or None,
        ),
    )
    tally.created += 1
    return user.id


async def _register_chart(
    session: AsyncSession, clinic: Clinic, organization: DemoCareOrganization, demo: DemoChart
) -> uuid.UUID:
    admin = clinic.admins[organization.key]
    await act_as(session, admin)
    contact = demo.emergency_contact
    chart = await patients.create_chart(
        session,
        admin,
        PatientCreate(
            first_name=demo.first_name,
            last_name=demo.last_name,
            date_of_birth=demo.date_of_birth,
            sex=demo.sex,
            email=demo.email,
            phone=demo.phone,
            national_id=demo.national_id,
            insurance_number=demo.insurance_number,
            address=ChartAddress(
                line1=demo.street, city=demo.city, postal_code=demo.postal_code, country="Germany"
            ),
            emergency_contact=(
                EmergencyContact(name=contact[0], relationship=contact[1], phone=contact[2])
                if contact
                else None
            ),
            blood_type=demo.blood_type,
        ),
    )
    chart_id: uuid.UUID = chart["id"]
    if demo.allergies or demo.chronic_conditions:
        doctor = clinic.doctor_of(organization.key)
        await act_as(session, doctor)
        await patients.update_chart(
            session,
            doctor,
            chart_id,
            PatientUpdate(
                allergies=list(demo.allergies), chronic_conditions=list(demo.chronic_conditions)
            ),
        )
    return chart_id


# Clinical demo: appointments and consultations

# Statuses reached by booking a free slot (and, for some, a move or a cancellation);
# the others are under way or over, so they are recorded as history first.
BOOKED = frozenset(
    {AppointmentStatus.requested, AppointmentStatus.confirmed, AppointmentStatus.cancelled}
)
WITH_CONSULTATION = frozenset({AppointmentStatus.in_progress, AppointmentStatus.completed})
# Today's appointments: the one checked in starts soon, the one in progress started.
CHECKED_IN_STARTS_IN = timedelta(minutes=5)
IN_PROGRESS_STARTED = timedelta(minutes=10)
SLOT_SEARCH_DAYS = 14


async def seed_appointments(run: SeedRun, clinic: Clinic) -> None:
    tally = run.report.tallies["appointments"]
    visits = run.report.tallies["consultations"]
    for done, demo in enumerate(APPOINTMENTS, start=1):
        doctor = clinic.doctors[demo.doctor]
        organization = _demo_doctor(demo.doctor).organization
        assert organization is not None  # only listed doctors are booked
        async with run.database.unit_of_work() as session:
            await act_as(session, clinic.admins[organization])
            existing = await session.scalar(
                select(Appointment.id)
                .where(Appointment.doctor_id == doctor.user_id, Appointment.reason == demo.reason)
                .limit(1)
            )
            if existing is not None:
                tally.existing += 1
                visits.existing += demo.status in WITH_CONSULTATION
            else:
                await _appointment(run, session, clinic, organization, demo)
                tally.created += 1
                visits.created += demo.status in WITH_CONSULTATION
        run.progress(VISITING, done, len(APPOINTMENTS))


async def _appointment(
    run: SeedRun, session: AsyncSession, clinic: Clinic, organization: str, demo: DemoAppointment
) -> None:
    if demo.status in BOOKED:
        await _book(run, session, clinic, organization, demo)
        return
    doctor = clinic.doctors[demo.doctor]
    admin = clinic.admins[organization]
    account = clinic.accounts.get(demo.chart) if demo.by_patient else None
    appointment_id = await _record_history(
        session,
        admin,
        doctor_id=_user_id(doctor),
        chart_id=clinic.charts[demo.chart],
        booked_by=account.user_id if account else admin.user_id,
        starts_at=_history_start(demo),
        minutes=_demo_doctor(demo.doctor).hours[0].slot_minutes,
        demo=demo,
    )
    await act_as(session, doctor)
    for status in _lifecycle_steps(demo):
        await appointment_lifecycle.change_status(
            session, doctor, run.settings, appointment_id, status
        )
    if demo.status not in WITH_CONSULTATION:
        return
    appointment = await appointments.get_appointment(session, doctor, appointment_id)
    # Opened by the appointment's start hook where the app registered it (app.py);
    # idempotent, so also right where it did not (the CLI builds no app).
    consultation = await consultations.open_for_appointment(session, appointment, actor=doctor)
    rooms = video.provider_for(run.settings)
    if demo.visit is None:
        update = ConsultationUpdate(chief_complaint=demo.reason)
        await consultation_lifecycle.update_consultation(
            session, doctor, consultation.id, update, rooms
        )
        return
    visit = demo.visit
    follow_up = (
        _local_date(appointment.starts_at) + timedelta(days=visit.follow_up_days)
        if visit.follow_up_days is not None
        else None
    )
    update = ConsultationUpdate(
        chief_complaint=visit.chief_complaint,
        diagnosis=visit.diagnosis,
        icd10_codes=list(visit.icd10_codes),
        notes=visit.notes,
        vitals=Vitals.model_validate(visit.vitals),
        follow_up_on=follow_up,
        follow_up_notes=visit.follow_up_notes,
        status=ConsultationStatus.completed,
    )
    # Completing the consultation completes its appointment (consultations.lifecycle).
    await consultation_lifecycle.update_consultation(
        session, doctor, consultation.id, update, rooms
    )
    # History: the encounter happened at the appointment's time, not now.
    consultation.started_at = appointment.starts_at + timedelta(minutes=2)
    consultation.ended_at = appointment.ends_at - timedelta(minutes=3)
    await session.flush()


def _user_id(principal: Principal) -> uuid.UUID:
    return principal.require_user_id()


ZONE = ZoneInfo(CLINICAL_TIMEZONE)


def _local_date(moment: datetime) -> date:
    return moment.astimezone(ZONE).date()


def _history_start(demo: DemoAppointment) -> datetime:
    """When an appointment that is under way or over started: today's around now (to
    the minute), earlier ones `days` ago at `hour` o'clock in the doctor's zone."""
    now = appointments.now().replace(second=0, microsecond=0)
    if demo.status == AppointmentStatus.checked_in:
        return now + CHECKED_IN_STARTS_IN
    if demo.status == AppointmentStatus.in_progress:
        return now - IN_PROGRESS_STARTED
    day = _local_date(now) - timedelta(days=demo.days)
    return datetime.combine(day, time(demo.hour), ZONE).astimezone(UTC)


def _lifecycle_steps(demo: DemoAppointment) -> list[AppointmentStatus]:
    """The doctor's moves from `confirmed` towards the demo's status (completion comes
    from the consultation). A video appointment has no desk to check in at."""
    s = AppointmentStatus
    if demo.status == s.no_show:
        return [s.no_show]
    if demo.status == s.checked_in:
        return [s.checked_in]
    arrival = [] if demo.type == AppointmentType.video else [s.checked_in]
    return [*arrival, s.in_progress]


async def _record_history(
    session: AsyncSession,
    admin: Principal,
    *,
    doctor_id: uuid.UUID,
    chart_id: uuid.UUID,
    booked_by: uuid.UUID | None,
    starts_at: datetime,
    minutes: int,
    demo: DemoAppointment,
) -> uuid.UUID:
    """An appointment booked before the demo began (under way, finished or missed today):
    recorded by the organization's admin through the appointments domain's
    `record_earlier_booking` (`book` refuses the past, rightly). Everything after it
    (check-in, start, consultation, completion, no-show) goes through the lifecycle."""
    await act_as(session, admin)
    return await booking.record_earlier_booking(
        session,
        admin,
        doctor_id=doctor_id,
        chart_id=chart_id,
        starts_at=starts_at,
        minutes=minutes,
        type_=demo.type,
        reason=demo.reason,
        booked_by=booked_by,
        via="seed demo history",
    )


async def _book(
    run: SeedRun, session: AsyncSession, clinic: Clinic, organization: str, demo: DemoAppointment
) -> None:
    """Booked like in the app: a free slot of the doctor, by the patient's account or by
    the organization's admin; then confirmed by the doctor or cancelled."""
    doctor = clinic.doctors[demo.doctor]
    admin = clinic.admins[organization]
    doctor_id = _user_id(doctor)
    starts_at = await _free_slot(run, session, doctor_id, demo)
    if demo.by_patient:
        booker = clinic.accounts[demo.chart]
        request = AppointmentCreate(
            doctor_id=doctor_id, starts_at=starts_at, type=demo.type, reason=demo.reason
        )
    else:
        booker = admin
        request = AppointmentCreate(
            doctor_id=doctor_id,
            patient_id=clinic.charts[demo.chart],
            starts_at=starts_at,
            type=demo.type,
            reason=demo.reason,
        )
    await act_as(session, booker)
    booked = await booking.book(session, booker, run.settings, request)
    if demo.status == AppointmentStatus.confirmed:
        await act_as(session, doctor)
        await appointment_lifecycle.change_status(
            session, doctor, run.settings, booked.id, AppointmentStatus.confirmed
        )
    elif demo.status == AppointmentStatus.cancelled:
        # A patient's own cancellation inside the cut-off is marked late.
        await appointment_lifecycle.cancel(
            session, booker, run.settings, booked.id, demo.cancel_reason
        )


async def _free_slot(
    run: SeedRun, session: AsyncSession, doctor_id: uuid.UUID, demo: DemoAppointment
) -> datetime:
    """The doctor's first free slot `days` ahead or later (a late cancellation: the
    soonest one, so that cancelling it falls inside the cut-off), as the public slots
    list offers it."""
    today = _local_date(appointments.now())
    first = today if demo.late else today + timedelta(days=demo.days)
    free = await directory.free_slots(
        session, run.settings, doctor_id, first, first + timedelta(days=SLOT_SEARCH_DAYS)
    )
    if not free.slots:
        raise NotFound(f"No free slot of {demo.doctor} from {first.isoformat()} for the demo")
    return free.slots[0].starts_at


# Clinical demo: medical records


async def seed_records(run: SeedRun, clinic: Clinic) -> None:
    tally = run.report.tallies["medical records"]
    today = appointments.now().date()
    for done, demo in enumerate(RECORDS, start=1):
        author = clinic.doctors[demo.author]
        chart_id = clinic.charts[demo.chart]
        async with run.database.unit_of_work() as session:
            await act_as(session, author)
            if await _has_record(session, chart_id, demo):
                tally.existing += 1
            else:
                await records.create_record(
                    session,
                    author,
                    chart_id,
                    RecordCreate(
                        kind=demo.kind,
                        recorded_on=today - timedelta(days=demo.days_ago),
                        title=demo.title,
                        content=demo.content,
                        data=demo.data,
                        consultation_id=(
                            await _consultation_for(session, _user_id(author), demo.visit)
                            if demo.visit
                            else None
                        ),
                    ),
                )
                tally.created += 1
        run.progress(RECORDING, done, len(RECORDS))


async def _has_record(session: AsyncSession, chart_id: uuid.UUID, demo: DemoRecord) -> bool:
    """Whether the chart has this record (titles are encrypted: compared once read).
    Read from the table: the records service audits its reads."""
    rows = await session.scalars(
        select(MedicalRecord).where(
            MedicalRecord.patient_id == chart_id,
            MedicalRecord.kind == demo.kind.value,
            MedicalRecord.deleted_at.is_(None),
        )
    )
    return any(record.title == demo.title for record in rows)


async def _consultation_for(
    session: AsyncSession, doctor_id: uuid.UUID, reason: str
) -> uuid.UUID | None:
    """The consultation of the doctor's appointment with this reason."""
    result: uuid.UUID | None = await session.scalar(
        select(Consultation.id)
        .join(Appointment, Appointment.id == Consultation.appointment_id)
        .where(Appointment.doctor_id == doctor_id, Appointment.reason == reason)
        .limit(1)
    )
    return result
