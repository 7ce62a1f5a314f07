"""Payments through a provider (manual bank transfer or Stripe) and invoices."""
