"""Faults injected into real components: SMTP outages, killed worker processes, Redis gone."""

from __future__ import annotations

from tests.faults.helpers import sink, workers

__all__ = ["sink", "workers"]
