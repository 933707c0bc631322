"""The benchmark harness: statistics, ratios, verdicts, registry and the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.harness import evaluate, ratios, summary, verdict
from bench.registry import Measurement, Spec, sort_key

ROOT = Path(__file__).resolve().parent.parent.parent


def _spec(higher: bool = True, target: float = 0.9, stretch: float | None = 0.95) -> Spec:
    return Spec("BX", "fake", "fake ratio", target, stretch, higher, lambda ctx: None)  # type: ignore[arg-type,return-value]


def test_summary_median_min_max_on_fake_timings():
    """Median of an odd and even number of runs, with min and max."""
    assert summary([5.0, 1.0, 3.0, 4.0, 2.0]) == {"median": 3.0, "min": 1.0, "max": 5.0}
    assert summary([4.0, 1.0, 3.0, 2.0, 10.0, 6.0]) == {"median": 3.5, "min": 1.0, "max": 10.0}


def test_ratios_are_paired_per_run():
    """Each run's subject is divided by the same run's baseline."""
    assert ratios([90.0, 50.0, 100.0], [100.0, 100.0, 50.0]) == [0.9, 0.5, 2.0]
    with pytest.raises(ValueError):
        ratios([1.0], [1.0, 2.0])
    with pytest.raises(ValueError):
        ratios([1.0], [0.0])


@pytest.mark.parametrize(
    ("ratio", "higher", "expected"),
    [
        (0.96, True, ("pass", True)),
        (0.92, True, ("pass", False)),
        (0.89, True, ("fail", False)),
        (0.04, False, ("pass", True)),
        (0.08, False, ("pass", False)),
        (0.11, False, ("fail", False)),
    ],
)
def test_verdict_on_median_ratio_both_directions(ratio, higher, expected):
    """Pass/fail and stretch follow the target's direction."""
    target, stretch = (0.90, 0.95) if higher else (0.10, 0.05)
    assert verdict(ratio, target, stretch, higher) == expected


def test_evaluate_uses_median_of_paired_ratios():
    """One outlier run does not decide the verdict: the median ratio does."""
    m = Measurement(
        subject=[95.0, 96.0, 10.0, 94.0, 97.0],
        baseline=[100.0] * 5,
        subject_unit="ops/s",
        baseline_unit="ops/s",
        baseline_name="fake raw",
    )
    record = evaluate(_spec(), m)
    assert record["ratio"] == pytest.approx(0.95)
    assert record["verdict"] == "pass" and record["stretch_met"] is True
    assert record["subject"]["median"] == 95.0 and record["subject"]["min"] == 10.0
    assert record["ratio_min"] == pytest.approx(0.10)
    assert record["runs"] == 5


def test_sort_key_natural_order():
    """B2 sorts before B10 and B3 before B3b."""
    assert sorted(["B10", "B3b", "B2", "B3", "B1"], key=sort_key) == ["B1", "B2", "B3", "B3b", "B10"]


def test_cli_quick_b1_writes_json(tmp_path):
    """`python -m bench --only B1 --quick` runs and writes a JSON record with raw runs and a verdict."""
    out = tmp_path / "latest.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--only", "B1", "--quick", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode in (0, 1), proc.stderr
    doc = json.loads(out.read_text())
    b1 = doc["benchmarks"]["B1"]
    assert set(doc) >= {"timestamp", "machine", "benchmarks", "summary"}
    assert doc["machine"]["cpu_count"] >= 1
    assert len(b1["subject"]["values"]) >= 5 and len(b1["baseline"]["values"]) == len(b1["subject"]["values"])
    assert b1["target"] == 0.90 and b1["stretch"] == 0.95
    assert b1["verdict"] in ("pass", "fail")
    assert b1["ratio"] == pytest.approx(sorted(b1["ratios"])[len(b1["ratios"]) // 2])
    assert "B1" in proc.stdout and "sign-header" in proc.stdout
