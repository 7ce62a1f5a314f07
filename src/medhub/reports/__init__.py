"""Sales, product and inquiry reports, and the supplier dashboard."""
