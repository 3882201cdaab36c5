"""build_report on exports built to exercise its judgements."""

import json

import pandas as pd

from analysis import build_report, load_export, render_markdown
from analysis.figures import accuracy_figure


def _export(spec: dict[tuple[str, str], list[tuple[int, int, int]]]) -> pd.DataFrame:
    """spec: (category, stimulus_kind) -> per participant (answered, correct, skipped)."""
    options = {"real_vs_synthetic": 4, "reidentification": 3, "diagnosis": 4}
    rows = []
    for (cat, kind), people in spec.items():
        for p, (answered, correct, skipped) in enumerate(people):
            outcomes = (["answered"] * answered) + (["skipped"] * skipped)
            for i, outcome in enumerate(outcomes):
                ok = outcome == "answered" and i < correct
                rows.append(
                    dict(
                        study="s",
                        participant=f"P{p:02d}",
                        session=f"S{p:02d}",
                        category=cat,
                        position=len(rows) + 1,
                        question=f"{cat}-{kind}-{p}-{i}",
                        disorder="KS",
                        stimulus_kind=kind,
                        n_options=options[cat],
                        chance=1 / options[cat],
                        correct_choice="1",
                        choice="" if outcome != "answered" else ("1" if ok else "2"),
                        outcome=outcome,
                        correct="" if outcome != "answered" else int(ok),
                        time_limit_ms=30000,
                        response_ms=2000 + i,
                        started_at="",
                        answered_at="",
                        seed="1",
                    )
                )
    return load_export(pd.DataFrame(rows))


def test_report_says_when_clustered_and_naive_conclusions_differ():
    # 3 experts get all 10 right, 17 get 2 of 10: 32% overall. The naive binomial test
    # rejects chance (p = 0.027); allowing for the clustering it does not (p = 0.24).
    people = [(10, 10, 0)] * 3 + [(10, 2, 0)] * 17
    report = build_report(_export({("real_vs_synthetic", "mixed"): people}))
    entry = report["categories"]["real_vs_synthetic"]
    assert entry["binomial"]["p_value"] < 0.05 < entry["clustered"]["p_value"]
    assert entry["naive_vs_clustered"]["agree"] is False
    assert entry["clustered"]["extra"]["design_effect"] > 3
    assert any("real_vs_synthetic" in f and "clustered" in f for f in report["findings"])
    assert "**no**" in render_markdown(report)


def test_all_skipped_category_gets_counts_and_a_reason(tmp_path):
    spec = {
        ("real_vs_synthetic", "mixed"): [(10, 4, 0)] * 12,
        ("reidentification", "latent_average"): [(0, 0, 10)] * 12,
    }
    report = build_report(_export(spec))
    reid = report["categories"]["reidentification"]
    assert reid["n_presented"] == 120 and reid["n_skipped"] == 120 and reid["n_answered"] == 0
    assert reid["accuracy"] is None and reid["binomial"]["p_value"] is None
    assert "no answered" in reid["binomial"]["reason"]
    diag = report["diagnosis_real_vs_synthetic"]
    assert diag["p_value"] is None and "no diagnosis" in diag["reason"]
    json.dumps(report, allow_nan=False)
    assert accuracy_figure(report, tmp_path / "f.png").stat().st_size > 0
    assert "no test" in render_markdown(report)


def test_diagnosis_with_only_real_portraits_is_not_compared():
    report = build_report(_export({("diagnosis", "real"): [(10, 5, 0)] * 12}))
    diag = report["diagnosis_real_vs_synthetic"]
    assert diag["real"]["n_answered"] == 120 and diag["synthetic"]["n_answered"] == 0
    assert diag["p_value"] is None and "synthetic" in diag["reason"]


def test_clustered_equivalence_can_fail_where_naive_succeeds():
    # Same 50% accuracy on both kinds, but whole experts are right or wrong: the
    # naive TOST claims equivalence, the clustered one cannot.
    real = [(10, 10, 0)] * 6 + [(10, 0, 0)] * 6
    synth = [(10, 10, 0)] * 6 + [(10, 0, 0)] * 6
    report = build_report(_export({("diagnosis", "real"): real, ("diagnosis", "synthetic"): synth[::-1]}), margin=0.2)
    diag = report["diagnosis_real_vs_synthetic"]
    assert diag["tost"]["extra"]["equivalent"] is True
    assert diag["clustered"]["tost"]["extra"]["equivalent"] is False
    assert any("TOST" in f for f in report["findings"])
