"""Who is calling: the result of authentication, passed to every authorised route."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from medhub.kit.errors import PermissionDenied


class AuthMethod(StrEnum):
    bearer = "bearer"
    cookie = "cookie"
    api_key = "api_key"


@dataclass(frozen=True)
class Principal:
    role: str
    organization_id: uuid.UUID | None
    method: AuthMethod
    user_id: uuid.UUID | None = None
    session_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    is_verified: bool = True
    is_approved: bool = True

    @property
    def is_super_admin(self) -> bool:
        return self.role == "super_admin"

    @property
    def actor_id(self) -> uuid.UUID | None:
        """The user behind the request (None for API keys, which act for an organization)."""
        return self.user_id

    def require_user_id(self) -> uuid.UUID:
        if self.user_id is None:
            raise PermissionDenied("This action needs a user account, not an API key")
        return self.user_id
