"""Faults injected into real components: SMTP outages, killed worker processes."""

from __future__ import annotations

from tests.faults.helpers import sink, workers

__all__ = ["sink", "workers"]
