"""Demo data for MedPharm (`medhub seed demo`): the supplier's staff and buyers with
known passwords, a catalog of about 200 products, and some inquiries and orders."""
