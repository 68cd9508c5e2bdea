"""Observation: traces, Prometheus metrics, admin statistics."""
