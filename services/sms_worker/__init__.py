"""The SMS worker: inbound SMS become users, onboarding, assessments, crisis answers and replies.

The inbound consumer lives here (`python -m services.sms_worker`); its pure rules are in
`domain/`, crisis detection in `safety/`. The exactly-once Twilio sender is its own service,
`services/sms_sender/`.
"""
