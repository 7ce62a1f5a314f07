"""Doctors: profiles, availability, the public directory and free slots."""
