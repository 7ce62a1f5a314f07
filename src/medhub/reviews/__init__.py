"""Reviews and ratings of doctors (issue 16)."""
