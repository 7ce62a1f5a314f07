from __future__ import annotations

from medhub.kit.errors import NotFound


class RecordNotFound(NotFound):
    default_message = "Medical record not found"
