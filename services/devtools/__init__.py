"""Development tools: the fake Twilio `make run` sends to, webhook signing, and the client that
`givecare chat`, `givecare stripe send` and the end-to-end tests drive ingress with.

They live here, not under `tests/`, because the CLI and `make run` use them too; no service
imports them.
"""
