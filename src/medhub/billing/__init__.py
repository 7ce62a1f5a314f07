"""Paying for care: appointment fees held in escrow, released, refunded, disputed; the
double-entry ledger and doctors' earnings (issue 16)."""
