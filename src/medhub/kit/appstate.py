"""Request dependencies for what the app was built with."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from medhub.config import Settings


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


AppSettings = Annotated[Settings, Depends(_settings)]
"""The settings the app was created with (tests build apps with their own)."""
