"""The SMS worker: inbound SMS become users, onboarding, assessments, crisis answers and replies.

The inbound consumer lives here (`python -m services.sms_worker`); the exactly-once Twilio sender
is the `outbound` subpackage, run as its own process.
"""

# The reply texts, also under their old name: tests/support/system.py imports them from here.
from services.sms_worker.domain import replies as replies
