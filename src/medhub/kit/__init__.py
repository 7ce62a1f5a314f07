"""Domain-free building blocks shared by every MedHub domain."""
