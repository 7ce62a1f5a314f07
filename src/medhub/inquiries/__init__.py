"""Inquiries and quote requests: submission, assignment, responses, conversion."""
