"""The safety screen on the held-out corpus: what each layer catches, what it wrongly flags, and
what the semantic layer costs the SMS worker per message.

    python -m bench.bench_safety

Nothing here is tuned on: the held-out split was written apart from the train split and the
detector, and only measured. Figures are against the issue's acceptance targets; CPU per message
is process time of the same call the SMS worker makes (`SafetyScreen.read`), with the lexicon
alone as the baseline measured in the same run.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable

from bench.report import print_table, write_result
from services.sms_worker.safety import corpus
from services.sms_worker.safety.corpus import Example
from services.sms_worker.safety.lexicon import Severity, scan
from services.sms_worker.safety.revocation import Revocation, read_revocation
from services.sms_worker.safety.screen import combine_crisis, combine_revocation, default_screen
from services.sms_worker.safety.semantic import SemanticReading, default_classifier


def _rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _severity(example: Example) -> str:
    return example.crisis.severity.value if example.crisis else "none"


def _cpu_ms(call: Callable[[str], object], texts: list[str]) -> list[float]:
    samples = []
    for text in texts:
        started = time.process_time()
        call(text)
        samples.append((time.process_time() - started) * 1000)
    return samples


def _p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    examples = corpus.load("heldout")
    classifier = default_classifier()
    thresholds = classifier.heads.thresholds
    readings: list[SemanticReading] = [classifier.read(e.text) for e in examples]
    hits = [scan(e.text) for e in examples]

    layers = {
        "lexicon": [bool(h) for h in hits],
        "semantic": [r.crisis >= thresholds.crisis for r in readings],
        "combined": [
            combine_crisis(h, r, thresholds) is not None
            for h, r in zip(hits, readings, strict=True)
        ],
    }
    crisis = [e.crisis is not None for e in examples]
    high = [e.crisis is not None and e.crisis.severity is Severity.HIGH for e in examples]
    combined = [combine_crisis(h, r, thresholds) for h, r in zip(hits, readings, strict=True)]
    rows = []
    for layer, found in layers.items():
        rows.append(
            {
                "layer": layer,
                "crisis_recall": _rate(
                    sum(f and c for f, c in zip(found, crisis, strict=True)), sum(crisis)
                ),
                "high_found": _rate(
                    sum(f and h for f, h in zip(found, high, strict=True)), sum(high)
                ),
                "false_crisis_rate": _rate(
                    sum(f and not c for f, c in zip(found, crisis, strict=True)),
                    len(crisis) - sum(crisis),
                ),
            }
        )
    high_as_high = sum(
        1
        for finding, is_high in zip(combined, high, strict=True)
        if is_high and finding is not None and finding.severity is Severity.HIGH
    )
    print_table("Crisis on the held-out split (targets: recall >= 99 %, false <= 1 %)", rows)
    print(f"high answered as high: {high_as_high}/{sum(high)} (target: all)")

    severity = Counter(
        (_severity(e), f.severity.value if f else "none")
        for e, f in zip(examples, combined, strict=True)
    )
    print_table(
        "Severity: labelled (rows) x answered (columns)",
        [
            {"labelled": label, **{a: severity[(label, a)] for a in ("high", "medium", "none")}}
            for label in ("high", "medium", "none")
        ],
    )
    by_category: dict[str, list[bool]] = defaultdict(list)
    for example, finding in zip(examples, combined, strict=True):
        name = f"{example.kind}:{example.category}"
        by_category[name].append(finding is not None)
    print_table(
        "Each category: share flagged as crisis (crisis kinds want 1.00, the rest 0.00)",
        [
            {"category": name, "messages": len(flags), "flagged": _rate(sum(flags), len(flags))}
            for name, flags in sorted(by_category.items())
        ],
    )

    decisions = [
        combine_revocation(read_revocation(e.text), r, thresholds)
        for e, r in zip(examples, readings, strict=True)
    ]
    revokes = [e.revokes for e in examples]
    opted = [d is Revocation.CLEAR for d in decisions]
    asked = [d is Revocation.UNCLEAR for d in decisions]
    lookalike_opt_outs = sum(
        o for o, e in zip(opted, examples, strict=True) if e.kind == "lookalike"
    )
    revocation_rows = [
        {
            "revocation_recall": _rate(
                sum(o and r for o, r in zip(opted, revokes, strict=True)), sum(revokes)
            ),
            "asked_instead": _rate(
                sum(a and r for a, r in zip(asked, revokes, strict=True)), sum(revokes)
            ),
            "precision": _rate(
                sum(o and r for o, r in zip(opted, revokes, strict=True)), sum(opted)
            ),
            "lookalike_opt_outs": lookalike_opt_outs,
            "other_opt_outs": sum(o and not r for o, r in zip(opted, revokes, strict=True)),
        }
    ]
    print_table("Revocation (targets: recall >= 95 %, no look-alike opted out)", revocation_rows)
    lookalike_rows = []
    for name in sorted({e.category for e in examples if e.kind == "lookalike"}):
        chosen = [
            d
            for d, e in zip(decisions, examples, strict=True)
            if e.kind == "lookalike" and e.category == name
        ]
        lookalike_rows.append(
            {
                "category": name,
                "messages": len(chosen),
                "opted_out": chosen.count(Revocation.CLEAR),
                "asked": chosen.count(Revocation.UNCLEAR),
            }
        )
    print_table("Look-alikes by category", lookalike_rows)

    texts = [e.text for e in examples]
    screen = default_screen()
    screen.read("warm up")
    full = _cpu_ms(screen.read, texts)
    lexicon_only = _cpu_ms(lambda text: (scan(text), read_revocation(text)), texts)
    cpu_rows = [
        {
            "measure": name,
            "median_ms": statistics.median(samples),
            "p99_ms": _p(samples, 0.99),
        }
        for name, samples in (("screen (both layers)", full), ("lexicon only", lexicon_only))
    ]
    added = [a - b for a, b in zip(full, lexicon_only, strict=True)]
    cpu_rows.append(
        {
            "measure": "semantic layer adds",
            "median_ms": statistics.median(added),
            "p99_ms": _p(added, 0.99),
        }
    )
    print_table(
        "CPU per message in the SMS worker's call (target: semantic adds <= 10 ms)", cpu_rows
    )
    write_result(
        "bench_safety",
        [*rows, *revocation_rows, *cpu_rows],
        messages=len(examples),
        high_as_high=f"{high_as_high}/{sum(high)}",
        thresholds=thresholds.__dict__,
    )


if __name__ == "__main__":
    main()
