"""`tool_calls`: the fake and the server agree — each call kept once, read in order."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.sms_worker.domain.responder import ToolCallRecord
from services.sms_worker.records import ToolCall
from tests.integration.sms_worker.conftest import SmsWorkIn

pytestmark = pytest.mark.integration

AT = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


async def test_tool_calls_are_kept_once_in_order(sms_work_in: SmsWorkIn) -> None:
    calls = [
        ToolCall(
            "out:reply:e1",
            "u1",
            ToolCallRecord(f"c{i}", "caregiver_resources", {"topic": t}, "ok"),
            i,
            AT,
        )
        for i, t in enumerate(["respite", "money"])
    ]
    await sms_work_in(lambda uow: uow.tool_calls.record(list(reversed(calls))))
    await sms_work_in(lambda uow: uow.tool_calls.record(calls[:1]))
    assert await sms_work_in(lambda uow: uow.tool_calls.of_message("out:reply:e1")) == calls
    assert await sms_work_in(lambda uow: uow.tool_calls.of_message("out:reply:e2")) == []
