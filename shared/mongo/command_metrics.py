"""Every database command a process sends, counted by command and collection.

Round trips are what a message costs most on the database side, so each service's `/metrics`
shows them (`givecare_mongo_commands_total`) and the end-to-end benchmark breaks them down by
service and hop from there. Transactions' commit and abort go to the admin database with no
collection: they count under `-`.
"""

from __future__ import annotations

from pymongo import monitoring

from shared.metrics import MONGO_COMMANDS

# Commands the driver sends on its own (monitoring, handshakes, session upkeep): not the
# application's round trips.
_HOUSEKEEPING = frozenset(
    {"hello", "ismaster", "isMaster", "ping", "endSessions", "saslStart", "saslContinue"}
)


class CommandMetrics(monitoring.CommandListener):
    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        if name in _HOUSEKEEPING:
            return
        collection = event.command.get(name)
        MONGO_COMMANDS.labels(name, collection if isinstance(collection, str) else "-").inc()

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        return None

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        return None
