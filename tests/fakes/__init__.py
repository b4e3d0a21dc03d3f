"""Fake external providers (Stripe, Twilio, OpenAI) on 127.0.0.1, driven by the official SDKs."""
