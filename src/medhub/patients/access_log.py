"""The patient's access log (`GET /patients/me/access-log`): who read or changed their
charts and the clinical content in them (consultations, records, appointments), at
every organization, from the audit log.

Every entry is kept, the patient's own reads included (`is_self`): a read the patient
does not remember making is exactly what they should see. The patient reads neither
the log nor other users' names directly (row-level security); the audit domain's
window on it (migration 0017) answers for the account in the transaction's context
only. Reading one's access log is not itself audited: it shows no medical data, and
rows about it would crowd the log it shows.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.audit import service as audit
from medhub.audit.schemas import ChartAccessEntry, ChartAccessFilters
from medhub.authz.principal import Principal
from medhub.kit.pagination import PageParams


async def own_access_log(
    session: AsyncSession, principal: Principal, filters: ChartAccessFilters, page: PageParams
) -> tuple[list[ChartAccessEntry], int]:
    # The route lets patients only in, and the tenant context is this person's.
    principal.require_user_id()
    return await audit.patient_access_log(session, filters, page)
