"""Records are clinical content: the same matrix as consultations (the approved
doctors of the chart's organization write and read, the patient reads their own)."""

from __future__ import annotations

from medhub.consultations.auth import ClinicalRead, ClinicalWrite

RecordsRead = ClinicalRead
RecordsWrite = ClinicalWrite

__all__ = ["RecordsRead", "RecordsWrite"]
