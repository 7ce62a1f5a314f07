"""What can go wrong with a pharmacy's stock, with the codes a client branches on."""

from __future__ import annotations

from medhub.kit.errors import AppError, Conflict, NotFound, PermissionDenied


class InsufficientStock(Conflict):
    """Not enough unexpired stock (or not enough in the named batch); nothing was taken."""

    code = "INSUFFICIENT_STOCK"
    default_message = "Not enough stock in this pharmacy"


class BatchExpired(Conflict):
    """The named batch is past its expiry date (or a delivery being received already is)."""

    code = "BATCH_EXPIRED"
    default_message = "This batch has expired"


class BatchNotFound(AppError):
    """The named batch is not in this organization's stock of the product. 404, as any
    row of another tenant is; its own code, so that a dispensing client can tell it
    from an unknown prescription."""

    code = "BATCH_NOT_FOUND"
    status_code = 404
    default_message = "No such batch in your stock of this product"


class BatchExpiryMismatch(Conflict):
    """A batch received again with another expiry date than the one on record: one lot
    has one expiry, so one of the two is a typing error or another lot."""

    code = "BATCH_EXPIRY_MISMATCH"
    default_message = "This batch is on record with another expiry date"


class BatchUsedUp(Conflict):
    """A batch with no units left: its expiry date is history (the dispensations from it
    recorded the date they were handed out under) and protects nothing any more."""

    code = "BATCH_USED_UP"
    default_message = "This batch has no units left"


class StockItemNotFound(NotFound):
    default_message = "This product is not in your stock"


class NotAStockHolder(PermissionDenied):
    default_message = "Only pharmacies, hospitals and clinics keep pharmacy stock"
