"""Orders: placing, reserving stock, the lifecycle, bulk CSV orders and expiry."""
