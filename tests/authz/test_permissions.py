"""The permission table: the MedPharm matrix is the floor, everything else is denied."""

from __future__ import annotations

import pytest

from medhub.authz.permissions import MATRIX, PERMISSIONS, ROLES, Action, can, render_table
from medhub.models.identity import Role

# Straight from the MedPharm permission matrix (seed 000).
MEDPHARM_FLOOR = {
    Action.PRODUCTS_READ: {"admin", "sales", "customer", "distributor"},
    Action.PRODUCTS_WRITE: {"admin"},
    Action.ORDERS_CREATE: {"admin", "sales", "customer", "distributor"},
    Action.ORDERS_READ_ALL: {"admin", "sales"},
    Action.INQUIRIES_READ_ALL: {"admin", "sales"},
    Action.USERS_MANAGE: {"admin"},
}
MEDPHARM_ROLES = {"admin", "sales", "customer", "distributor"}


@pytest.mark.parametrize("action", list(MEDPHARM_FLOOR))
def test_medpharm_matrix_is_the_floor(action: Action) -> None:
    allowed = {role for role in MEDPHARM_ROLES if can(role, action)}
    assert allowed == MEDPHARM_FLOOR[action]


def test_every_role_has_a_column_and_every_row_is_complete() -> None:
    assert set(ROLES) == set(Role)
    assert all(len(row) == len(ROLES) for row in MATRIX.values())
    assert set(MATRIX) == set(Action), "an action without a row would be silently denied"


def test_unknown_roles_and_unlisted_pairs_are_denied() -> None:
    assert not can("janitor", Action.PRODUCTS_READ)
    assert not can("", Action.PRODUCTS_READ)
    assert not can("patient", Action.USERS_MANAGE)
    assert not can("admin", Action.TENANTS_MANAGE)
    assert can("super_admin", Action.TENANTS_MANAGE)


def test_only_super_admins_manage_tenants_and_only_org_admins_manage_keys() -> None:
    assert {r for r, actions in PERMISSIONS.items() if Action.TENANTS_MANAGE in actions} == {
        Role.super_admin
    }
    assert {r for r, actions in PERMISSIONS.items() if Action.API_KEYS_MANAGE in actions} == {
        Role.admin
    }


def test_table_renders_one_line_per_action() -> None:
    table = render_table().splitlines()
    assert table[0].startswith("| action | super_admin | admin |")
    assert len(table) == 2 + len(MATRIX)
    assert "| products.write | ✓ | ✓ | ✗ |" in "\n".join(table)


# Issue 12's access matrix: platform operators and org admins see no clinical content.
CLINICAL_MATRIX = {
    Action.PATIENTS_READ: {"admin", "doctor"},
    Action.PATIENTS_WRITE: {"admin", "doctor"},
    Action.PATIENTS_DELETE: {"admin"},
    Action.CLINICAL_READ: {"doctor"},
    Action.CLINICAL_WRITE: {"doctor"},
    Action.APPOINTMENTS_BOOK: {"admin", "doctor", "patient"},
    Action.APPOINTMENTS_READ: {"admin", "doctor", "patient"},
    Action.APPOINTMENTS_MANAGE: {"admin", "doctor"},
    Action.PATIENT_SELF: {"patient"},
    # Issue 15's: pharmacists reach prescriptions only by dispensing them.
    Action.PRESCRIPTIONS_WRITE: {"doctor"},
    Action.PRESCRIPTIONS_READ: {"admin", "doctor"},
    Action.PRESCRIPTIONS_DISPENSE: {"pharmacist"},
    Action.PHARMACY_HISTORY_READ: {"admin", "pharmacist"},
    Action.PHARMACY_STOCK_MANAGE: {"admin", "pharmacist"},
}


@pytest.mark.parametrize("action", list(CLINICAL_MATRIX))
def test_clinical_matrix(action: Action) -> None:
    assert {role.value for role in Role if can(role.value, action)} == CLINICAL_MATRIX[action]
