"""Row-level security as the second wall: with an org admin's context, PostgreSQL itself
hides other organizations' users, whatever the query forgets to filter."""

from __future__ import annotations

from sqlalchemy import select

from medhub.kit.db import Database
from medhub.kit.tenancy import set_tenant_context
from medhub.models.identity import Organization, User
from medhub.organizations.repository import MemberRepository
from tests.factories import Account, Factory
from tests.organizations.conftest import Tenant


async def test_rls_hides_other_organizations_even_without_a_where_clause(
    database: Database,
    factory: Factory,
    hospital: Tenant,
    other_hospital: Tenant,
    super_admin: Account,
) -> None:
    doctor = await factory.user("doctor", organization_id=hospital.id, login=False)
    other_doctor = await factory.user("doctor", organization_id=other_hospital.id, login=False)
    independent = await factory.user("patient", login=False)

    async with database.unit_of_work() as session:
        await set_tenant_context(
            session,
            user_id=hospital.admin.id,
            organization_id=hospital.id,
            role="admin",
        )
        unfiltered = set((await session.execute(select(User.id))).scalars())
        # The repository's unscoped starting point is held to the same rows.
        base = MemberRepository(session).base_statement()
        through_repository = {u.id for u in (await session.execute(base)).scalars()}
        organizations = set((await session.execute(select(Organization.id))).scalars())

    assert unfiltered == {hospital.admin.id, doctor.id}
    assert through_repository == unfiltered
    for hidden in (other_hospital.admin.id, other_doctor.id, independent.id, super_admin.id):
        assert hidden not in unfiltered
    assert organizations == {hospital.id}


async def test_rls_shows_nothing_without_a_context(database: Database, hospital: Tenant) -> None:
    async with database.unit_of_work() as session:
        assert (await session.execute(select(User.id))).scalars().all() == []
        assert (await session.execute(select(Organization.id))).scalars().all() == []
