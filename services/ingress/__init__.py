"""Ingress: the only internet-facing service — verified, deduplicated, durable webhooks."""
