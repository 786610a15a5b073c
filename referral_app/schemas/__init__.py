"""Marshmallow schemas (In/Out) used at the boundaries: the API and job payloads."""
