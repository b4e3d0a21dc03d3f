"""Integration tests of the SMS sender: real broker and database, a fake Twilio the SDK calls."""
