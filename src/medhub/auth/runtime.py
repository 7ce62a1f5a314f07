"""What authentication needs besides the database, built once per app."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request

from medhub.config import Settings
from medhub.kit.security import PasswordHasher, TokenCodec


@dataclass(frozen=True)
class AuthRuntime:
    settings: Settings
    hasher: PasswordHasher
    codec: TokenCodec

    @property
    def access_ttl(self) -> timedelta:
        return timedelta(minutes=self.settings.ACCESS_TOKEN_TTL_MINUTES)

    @property
    def refresh_ttl(self) -> timedelta:
        return timedelta(days=self.settings.REFRESH_TOKEN_TTL_DAYS)

    @property
    def otp_key(self) -> str:
        return self.settings.jwt_secret()


def build_runtime(settings: Settings) -> AuthRuntime:
    return AuthRuntime(
        settings=settings,
        hasher=PasswordHasher(
            memory_kib=settings.PASSWORD_HASH_MEMORY_KIB,
            iterations=settings.PASSWORD_HASH_ITERATIONS,
            parallelism=settings.PASSWORD_HASH_PARALLELISM,
            workers=settings.PASSWORD_HASH_WORKERS,
        ),
        codec=TokenCodec(settings.jwt_secret(), settings.jwt_previous_secrets()),
    )


async def get_runtime(request: Request) -> AuthRuntime:
    runtime: AuthRuntime = request.app.state.auth_runtime
    return runtime


Runtime = Annotated[AuthRuntime, Depends(get_runtime)]
