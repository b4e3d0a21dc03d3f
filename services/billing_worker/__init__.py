"""Billing worker: Stripe events → billing accounts, subscription access, billing SMS requests."""
