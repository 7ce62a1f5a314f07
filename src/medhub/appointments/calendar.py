"""The `.ics` calendar invitation an appointment's emails carry (RFC 5545, iTIP methods
of RFC 5546), built with `icalendar` (which folds long lines and escapes text).

One appointment is one calendar event for its whole life: the same UID in every
message, so that a calendar updates (METHOD:REQUEST with a higher SEQUENCE) or removes
(METHOD:CANCEL) the event it already holds instead of adding another. Times are UTC
(`...Z`): no time-zone definitions to ship, and every calendar shows them in its
owner's zone.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from icalendar import Calendar, Event, vCalAddress, vText

PRODUCT_ID = "-//MedHub//Appointments//EN"
UID_DOMAIN = "appointments.medhub"
FILENAME = "appointment.ics"
# RFC 5545 INTEGER: a signed 32-bit number.
MAX_SEQUENCE = 2**31 - 1


class Method(StrEnum):
    request = "REQUEST"
    cancel = "CANCEL"


@dataclass(frozen=True)
class Invitation:
    appointment_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    summary: str
    description: str
    location: str | None
    url: str
    # The platform sends the invitations, so it is the organizer (on behalf of the
    # doctor's organization, whose name it shows).
    organizer_name: str
    organizer_email: str
    # (name, address) of the participants whose address is known to the sender.
    attendees: tuple[tuple[str, str], ...]
    sequence: int
    method: Method
    stamp: datetime


def uid_of(appointment_id: uuid.UUID) -> str:
    return f"{appointment_id}@{UID_DOMAIN}"


def sequence_for(created_at: datetime, changed_at: datetime, *, revision: bool) -> int:
    """The event's SEQUENCE: whole seconds from the booking to this change, so every
    later change of one appointment carries a higher number without storing a counter
    (0 for the booking itself; at least 1 for any change after it). Two changes within
    one second share a number; calendars then keep the one with the later DTSTAMP."""
    if not revision:
        return 0
    seconds = int((changed_at - created_at).total_seconds())
    return min(max(seconds, 1), MAX_SEQUENCE)


def _address(name: str, email: str, **params: str) -> vCalAddress:
    address = vCalAddress(f"mailto:{email}")
    address.params["CN"] = vText(name)
    for key, value in params.items():
        address.params[key] = vText(value)
    return address


def render(invitation: Invitation) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", invitation.method.value)
    event = Event()
    event.add("uid", uid_of(invitation.appointment_id))
    event.add("sequence", invitation.sequence)
    event.add("dtstamp", invitation.stamp.astimezone(UTC))
    event.add("dtstart", invitation.starts_at.astimezone(UTC))
    event.add("dtend", invitation.ends_at.astimezone(UTC))
    event.add("summary", invitation.summary)
    event.add("description", invitation.description)
    if invitation.location:
        event.add("location", invitation.location)
    event.add("url", invitation.url)
    event.add("status", "CANCELLED" if invitation.method is Method.cancel else "CONFIRMED")
    event.add("transp", "OPAQUE")
    event.add("organizer", _address(invitation.organizer_name, invitation.organizer_email))
    for name, email in invitation.attendees:
        event.add("attendee", _address(name, email, ROLE="REQ-PARTICIPANT", PARTSTAT="ACCEPTED"))
    calendar.add_component(event)
    return bytes(calendar.to_ical())


def attachment(invitation: Invitation) -> dict[str, Any]:
    """The invitation as an email attachment (kit.email.build_message's shape)."""
    return {
        "content_type": "text/calendar",
        "data_b64": base64.b64encode(render(invitation)).decode(),
        "filename": FILENAME,
        # iTIP: the method on the MIME type too, as calendar clients look for it there.
        "params": {"method": invitation.method.value, "charset": "UTF-8"},
    }
