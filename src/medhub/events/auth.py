"""Who reaches the event routes, and how often.

The email queue is the platform's (JOBS_MANAGE: super admins); a test event is any
signed-in person's own. Every /events route shares one per-user allowance, the seed's
"Event Management: 30 per minute per user" (`RATE_LIMIT_EVENTS`). It is counted after
the role check, as the prescriptions' limits are: a refused role's calls use up no
one's allowance.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from medhub.authz.dependencies import UserPrincipal, per_user_limit, require
from medhub.authz.permissions import Action
from medhub.authz.principal import Principal

_EVENTS_LIMIT = per_user_limit("RATE_LIMIT_EVENTS", "events")


async def _queue_manager(
    request: Request,
    principal: Annotated[Principal, Depends(require(Action.JOBS_MANAGE))],
) -> Principal:
    await _EVENTS_LIMIT(request, principal)
    return principal


async def _test_event_sender(request: Request, principal: UserPrincipal) -> Principal:
    await _EVENTS_LIMIT(request, principal)
    return principal


JobsManage = Annotated[Principal, Depends(_queue_manager)]
# A person (not an API key) sending themselves a test event.
TestEventSender = Annotated[Principal, Depends(_test_event_sender)]
