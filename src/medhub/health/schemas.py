from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class Liveness(BaseModel):
    status: Literal["ok"] = "ok"
    version: str


class Check(BaseModel):
    status: Literal["ok", "failing"]
    detail: str | None = None
    latency_ms: float | None = None


class Readiness(BaseModel):
    status: Literal["ok", "failing"]
    checks: dict[str, Check]
