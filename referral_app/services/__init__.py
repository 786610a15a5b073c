"""Verbs on the domain. They take plain values, flush, and never commit."""
