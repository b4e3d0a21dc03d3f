"""The SMS sender: each `sms.outbound.requested` becomes at most one Twilio message, however often
the event is delivered and however many sender processes run (`python -m
services.sms_sender`; see docs/sms_sender.md)."""
