"""Prescriptions: writing them, their QR tokens and reference numbers, and dispensing."""
