"""A pharmacy's stock: batches with expiry, first-expiry-first-out takes, restocking."""
