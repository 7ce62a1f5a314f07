from __future__ import annotations

from medhub.kit.errors import Conflict, NotFound


class ProductNotFound(NotFound):
    default_message = "Product not found"


class CertificationNotFound(NotFound):
    default_message = "Certification not found"


class CategoryNotFound(NotFound):
    default_message = "Category not found"


class InsufficientStock(Conflict):
    code = "INSUFFICIENT_STOCK"
    default_message = "Not enough stock available"


class StockBelowReserved(Conflict):
    code = "STOCK_BELOW_RESERVED"
    default_message = "Stock cannot drop below what open orders have reserved"
