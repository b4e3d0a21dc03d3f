"""The SMS worker: inbound SMS become users, onboarding, assessments, crisis answers and replies.

The inbound consumer lives here (`python -m services.sms_worker`); the exactly-once Twilio sender
is the `outbound` subpackage, run as its own process.
"""
