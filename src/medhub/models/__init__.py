"""ORM models, one module per domain. Alembic reads `Base.metadata` from here."""

from medhub.models.base import Base, IdMixin, TimestampMixin, new_id

__all__ = ["Base", "IdMixin", "TimestampMixin", "new_id"]
