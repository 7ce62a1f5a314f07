"""The pharma catalog: categories, products, certifications and stock."""
