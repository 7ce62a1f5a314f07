from __future__ import annotations

from medhub.kit.errors import InvalidStateTransition


class OrderStateConflict(InvalidStateTransition):
    default_message = "The order cannot make this change in its current state"
