"""The benchmark harness's own logic: percentiles, ratios, the arrival clock at the fake Twilio,
and the report renderer that fills docs/performance.md — so a figure in the report is computed
the way the page says it is."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench import bench_ingress, bench_sms_inbound, machine, performance_doc
from bench.bench_e2e import CreateArrivals
from bench.load import percentile, signed_sms
from services.devtools.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio
from services.ingress.signatures import verify_twilio
from services.ingress.webhooks import parse_form


def test_percentile_is_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 0.50) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 1.0) == 100.0
    assert percentile([7.0], 0.99) == 7.0
    assert math.isnan(percentile([], 0.5))


def test_signed_sms_verifies_as_ingress_checks_it() -> None:
    request = signed_sms(
        "http://127.0.0.1:8000",
        AUTH_TOKEN,
        message_sid="SM1",
        from_number="+14155550100",
        body="hi",
    )
    form = parse_form(request.content)
    verify_twilio(
        AUTH_TOKEN,
        "http://127.0.0.1:8000/webhooks/twilio/sms",
        form,
        request.headers["x-twilio-signature"],
    )
    assert form["From"] == "+14155550100"


def _ingress_row(target: str, rate: int, **figures: float) -> dict[str, Any]:
    return {
        "target": target,
        "offered_rps": rate,
        "achieved_rps": figures.get("achieved", rate),
        "p50_ms": figures["p50"],
        "p99_ms": figures["p99"],
        "cpu_us_per_req": figures["cpu"],
        "broker_cpu_us_per_req": figures.get("broker", 0.0),
        "db_cpu_us_per_req": figures["db"],
    }


def test_ingress_ratios_compare_baseline_with_ingress_per_rate() -> None:
    rows = [
        _ingress_row("ingress", 50, p50=10.0, p99=20.0, cpu=1000.0, broker=500.0, db=500.0),
        _ingress_row(
            "inline baseline", 50, achieved=25.0, p50=40.0, p99=200.0, cpu=3000.0, db=5000.0
        ),
        _ingress_row("ingress", 100, p50=12.0, p99=30.0, cpu=900.0, db=math.nan),
    ]
    (ratio,) = bench_ingress.ratios(rows)
    assert ratio == {
        "offered_rps": 50,
        "throughput x": 2.0,
        "p50 baseline/ingress": 4.0,
        "p99 baseline/ingress": 10.0,
        "cpu baseline/ingress": 3.0,
        "cpu with servers baseline/ingress": 4.0,
    }


def test_worker_ratios_pair_runtimes_by_mode_and_scenario() -> None:
    def row(runtime: str, rate: float, cpu: float) -> dict[str, Any]:
        return {
            "runtime": runtime,
            "mode": "transactions",
            "scenario": "chat",
            "msgs_per_s": rate,
            "cpu_us_per_msg": cpu,
            "db_cmds_per_msg_handler": 10.0,
            "db_cmds_per_msg_relay": 2.0,
        }

    (ratio,) = bench_sms_inbound.ratios(
        [row("givecare", 60.0, 800.0), row("faststream", 50.0, 1000.0)]
    )
    assert ratio["msgs/s givecare/faststream"] == 1.2
    assert ratio["cpu/msg faststream/givecare"] == 1.25
    assert ratio["db trips/msg givecare/faststream"] == 1.0


async def test_create_arrivals_notes_each_create_and_the_fake_still_answers() -> None:
    twilio = FakeTwilio()
    arrivals = CreateArrivals(twilio.app())
    transport = httpx.ASGITransport(app=arrivals)
    async with httpx.AsyncClient(transport=transport, base_url="http://fake") as http:
        response = await http.post(
            f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json",
            data={"To": "+14155550100", "From": "+18005550100", "Body": "hello"},
            auth=(ACCOUNT_SID, AUTH_TOKEN),
        )
    assert response.status_code == 201
    assert [m["body"] for m in twilio.messages_to("+14155550100")] == ["hello"]
    (arrived,) = arrivals.by_recipient["+14155550100"]
    assert arrivals.first_after("+14155550100", arrived - 1) == arrived
    assert arrivals.first_after("+14155550100", arrived + 1) is None
    assert arrivals.first_after("+14155550199", 0.0) is None


def test_machine_description_counts_other_work_as_nonnegative() -> None:
    described = machine.describe()
    assert described["cpus"] >= 1
    assert described["other_work_cores"] >= 0


_DOCUMENT = """# Performance

Prose stays.

<!-- bench:runs -->
stale table
<!-- /bench:runs -->

<!-- bench:scheduler -->
<!-- /bench:scheduler -->
"""


def test_render_replaces_only_the_generated_blocks() -> None:
    scheduler = {
        "at": "2026-11-21T20:00:00+00:00",
        "quick": False,
        "machine": {"cpus": 2, "other_work_cores": 0.8},
        "context": {"database": "SecantusDB 0.7"},
        "rows": [{"users": 10_000, "tick_s": 0.5, "due_query_uses_index": True}],
    }
    rendered = performance_doc.render(_DOCUMENT, {"scheduler": scheduler})
    assert "Prose stays." in rendered
    assert "stale table" not in rendered
    assert (
        "| scheduler | 2026-11-21 20:00 | full | 2 | 0.80 | **loaded** | SecantusDB 0.7 |"
        in rendered
    )
    assert "| ingress | not run |" in rendered
    assert "| 10,000 | 0.50 | yes |" in rendered
    # Rendering again gives the same page: the blocks' markers survive.
    assert performance_doc.render(rendered, {"scheduler": scheduler}) == rendered


def test_render_says_what_to_run_for_a_missing_result() -> None:
    rendered = performance_doc.render(_DOCUMENT, {})
    assert "_No result yet: run `make bench`" in rendered


def test_render_refuses_an_unknown_block() -> None:
    with pytest.raises(ValueError, match="unknown block"):
        performance_doc.render("<!-- bench:nonsense -->\n<!-- /bench:nonsense -->", {})


def test_the_report_page_has_every_block_the_renderer_fills() -> None:
    page = (Path(__file__).parents[2] / "docs" / "performance.md").read_text()
    for name in performance_doc.SECTIONS:
        assert f"<!-- bench:{name} -->" in page
        assert f"<!-- /bench:{name} -->" in page


def test_every_block_name_the_renderer_fills_is_one_it_finds() -> None:
    """A block whose name the page's pattern cannot match (the "e2e" table, named with a digit)
    would be left stale forever without an error."""
    for name in performance_doc.SECTIONS:
        page = f"<!-- bench:{name} -->\nstale\n<!-- /bench:{name} -->\n"
        assert "stale" not in performance_doc.render(page, {}), name
