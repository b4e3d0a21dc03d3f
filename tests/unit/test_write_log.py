"""The write log records each write command's service, database and collection, and nothing
else; the e2e check reads it back."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import cast

from pymongo import monitoring

from shared.mongo.write_log import WriteLog, read_write_log
from tests.support.system import collections_by_service, foreign_writes, written_by_several


def _started(name: str, database: str, collection: str) -> monitoring.CommandStartedEvent:
    """The three fields of a started event the log reads."""
    event = SimpleNamespace(command_name=name, database_name=database, command={name: collection})
    return cast(monitoring.CommandStartedEvent, event)


def test_writes_are_recorded_and_reads_are_not(tmp_path: Path) -> None:
    path = tmp_path / "writes.log"
    log = WriteLog(path, "sms_worker")
    for name, collection in [
        ("insert", "messages"),
        ("update", "user_profiles"),
        ("update", "user_profiles"),
        ("find", "users"),
        ("findAndModify", "outbox"),
        ("delete", "inbox"),
        ("aggregate", "alerts"),
    ]:
        log.started(_started(name, "g_sms_worker", collection))
    assert read_write_log(path) == {
        ("sms_worker", "g_sms_worker", "messages"),
        ("sms_worker", "g_sms_worker", "user_profiles"),
        ("sms_worker", "g_sms_worker", "outbox"),
        ("sms_worker", "g_sms_worker", "inbox"),
    }


def test_a_write_into_another_services_database_is_reported() -> None:
    writes = {
        ("sms_worker", "g_sms_worker", "messages"),
        ("ingress-admin", "g_admin", "audit_log"),
        ("ingress-admin", "g_sms_worker", "users"),
        ("sms_sender", "g_sms_sender", "outbound_messages"),
    }
    assert foreign_writes(writes, "g") == ["ingress-admin wrote g_sms_worker.users"]


def test_collections_are_listed_per_service_and_a_second_writer_is_reported() -> None:
    writes = {
        ("sms_worker", "g_sms_worker", "messages"),
        ("sms_worker", "g_sms_worker", "outbox"),
        ("sms_sender", "g_sms_sender", "outbox"),
        ("ingress-admin", "g_admin", "audit_log"),
        ("givecare-cli", "g_admin", "operators"),
    }
    assert collections_by_service(writes) == {
        "sms_worker": {"g_sms_worker.messages", "g_sms_worker.outbox"},
        "sms_sender": {"g_sms_sender.outbox"},
        "admin": {"g_admin.audit_log", "g_admin.operators"},
    }
    assert written_by_several(writes) == []
    shared = writes | {("sms_sender", "g_sms_worker", "messages")}
    assert written_by_several(shared) == ["g_sms_worker.messages written by sms_sender, sms_worker"]
