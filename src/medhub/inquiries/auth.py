"""Who may do what with inquiries.

Anyone may submit one (anonymous visitors within a per-IP limit); anyone signed in
reads their own; the supplier's staff (admin, sales) read and handle all of their
supplier's. Which inquiry is whose is scoping, in the repository and the service.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from medhub.authz.dependencies import OptionalPrincipal, require
from medhub.authz.permissions import Action
from medhub.authz.principal import Principal
from medhub.kit.ratelimit import RateLimit

# An anonymous submission stores a row and sends an email to an address the caller
# chose: the same abuse profile as a sign-up, so it shares the sign-up allowance
# (counted separately, per IP). Signed-in callers have their role's limit.
_ANONYMOUS_SUBMISSIONS = RateLimit(setting="RATE_LIMIT_REGISTER", scope="inquiry")


async def _submitter(request: Request, principal: OptionalPrincipal) -> Principal | None:
    if principal is None:
        await _ANONYMOUS_SUBMISSIONS(request)
    return principal


InquirySubmitter = Annotated[Principal | None, Depends(_submitter)]
InquiriesManage = Annotated[Principal, Depends(require(Action.INQUIRIES_MANAGE))]
