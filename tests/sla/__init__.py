"""Tests of the SLA engine and the sales follow-up queue."""
