from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, text

from medhub.kit.repository import Repository
from medhub.models.mail import EmailStatus, OutgoingEmail


class EmailRepository(Repository[OutgoingEmail]):
    model = OutgoingEmail

    async def get_for_update(self, email_id: uuid.UUID) -> OutgoingEmail | None:
        result = await self.session.execute(
            select(OutgoingEmail).where(OutgoingEmail.id == email_id).with_for_update()
        )
        return result.scalar_one_or_none()

    async def count_recent(self, *, template: str, to: str, since: datetime) -> int:
        result = await self.session.execute(
            select(func.count())
            .select_from(OutgoingEmail)
            .where(
                func.lower(OutgoingEmail.to_address) == to.lower(),
                OutgoingEmail.template == template,
                OutgoingEmail.created_at >= since,
            )
        )
        return int(result.scalar_one())

    def listing(self, status: EmailStatus | None) -> Select[Any]:
        statement = select(OutgoingEmail)
        if status is not None:
            statement = statement.where(OutgoingEmail.status == status.value)
        return statement.order_by(OutgoingEmail.created_at.desc(), OutgoingEmail.id)

    async def delete_sent(self) -> int:
        result = await self.session.execute(
            text(
                "WITH gone AS (DELETE FROM email_messages WHERE status = 'sent' RETURNING job_id),"
                " jobs AS (DELETE FROM procrastinate_jobs WHERE id IN (SELECT job_id FROM gone)"
                " AND status = 'succeeded' RETURNING id)"
                " SELECT count(*) FROM gone"
            )
        )
        return int(result.scalar_one())
