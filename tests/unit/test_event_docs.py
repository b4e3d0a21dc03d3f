"""The checked-in event catalogue (docs/asyncapi.yaml, docs/events.md) matches the models."""

from __future__ import annotations

import yaml

from services.queues import main
from shared.events.asyncapi import ASYNCAPI_FILE
from shared.events.catalog import EVENTS


def test_generated_catalogue_is_in_step_with_the_code() -> None:
    assert main(["--check"]) == 0, "run: python -m services.queues"


def test_asyncapi_document_lists_every_event_with_its_schema() -> None:
    document = yaml.safe_load(ASYNCAPI_FILE.read_text())
    assert document["asyncapi"].startswith("3.")
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert addresses == set(EVENTS.types)
    assert "Envelope" in document["components"]["schemas"]
