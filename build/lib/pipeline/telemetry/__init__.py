"""Telemetry: Prometheus metrics and structured logs, used by every layer and using none."""
