"""Who may do what with reviews (issue 16): patients write and edit their own, the
reviewed doctor replies, an organization's admins and super admins moderate, and any
person signed in reports one. The public list needs no one.

Which reviews a caller then reaches is the service's and the repository's scoping
(the author's own, the doctor's own, the organization's)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from medhub.authz.dependencies import require, user_principal
from medhub.authz.permissions import Action
from medhub.authz.principal import Principal


async def _person(principal: Principal) -> Principal:
    # Reviews, replies and reports are a person's words: an API key has no author.
    principal.require_user_id()
    return principal


async def _writer(
    principal: Annotated[Principal, Depends(require(Action.REVIEWS_WRITE))],
) -> Principal:
    return await _person(principal)


async def _replier(
    principal: Annotated[Principal, Depends(require(Action.REVIEWS_REPLY))],
) -> Principal:
    return await _person(principal)


ReviewsWrite = Annotated[Principal, Depends(_writer)]
ReviewsReply = Annotated[Principal, Depends(_replier)]
ReviewsModerate = Annotated[Principal, Depends(require(Action.REVIEWS_MODERATE))]
ReviewsReport = Annotated[Principal, Depends(user_principal)]
