"""Per-portrait re-identification from the options export (issue 15: privacy per portrait)."""

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import analysis_reference_values as ref
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy import stats

from analysis import (
    OPTION_COLUMNS,
    ExportError,
    build_report,
    load_export,
    load_options,
    per_portrait_reidentification,
)
from analysis.cli import main
from analysis.export import COLUMNS
from analysis.tables import PER_PORTRAIT_TABLE, report_tables
from tests.exports_doc import documented_columns

ROOT = Path(__file__).resolve().parents[2]
CODES = "ABCD"


def test_loader_columns_are_the_documented_and_exported_ones():
    assert list(OPTION_COLUMNS) == documented_columns("options")
    # survey/export/options.py is read as text: analysis tests never import Django.
    tree = ast.parse((ROOT / "survey" / "export" / "options.py").read_text())
    exported = next(
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "OPTION_COLUMNS"
    )
    assert list(OPTION_COLUMNS) == exported


def _study(
    outcomes: list[list[str]], *, n_experts: int = 10, n_options: int = 3, seed: int = 0, study: str = "s"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Answers and options exports, as the platform writes them, of re-identification questions.

    ``outcomes[m]`` lists, for training member ``m``, the outcome of each question it was
    the member of: ``hit`` (member chosen), ``miss`` (a non-member chosen), ``skipped`` or
    ``timeout``. Question j goes to expert j % n_experts; non-members come from a pool of 30.
    """
    rng = np.random.default_rng(seed)
    answers, options = [], []
    positions: dict[int, int] = {}
    j = 0
    for m, member_outcomes in enumerate(outcomes):
        for outcome in member_outcomes:
            expert = j % n_experts
            j += 1
            position = positions[expert] = positions.get(expert, 0) + 1
            others = [f"nonmember{k:02d}" for k in rng.choice(30, n_options - 1, replace=False)]
            portraits = [f"member{m:02d}", *others]
            order = rng.permutation(n_options)  # portrait order[i] sits in slot i + 1
            member_slot = int(np.flatnonzero(order == 0)[0])
            if outcome == "hit":
                chosen_slot = member_slot
            elif outcome == "miss":
                chosen_slot = int(rng.choice([s for s in range(n_options) if s != member_slot]))
            else:
                chosen_slot = None
            question = f"q{expert}-{position}"
            answered = chosen_slot is not None
            answers.append(
                dict(
                    study=study,
                    participant=f"P{expert:02d}",
                    session=str(100 + expert),
                    category="reidentification",
                    position=position,
                    question=question,
                    disorder="KS",
                    stimulus_kind="latent_average",
                    n_options=n_options,
                    chance=1 / n_options,
                    correct_choice=CODES[member_slot],
                    choice=CODES[chosen_slot] if answered else "",
                    outcome=outcome if not answered else "answered",
                    correct=int(chosen_slot == member_slot) if answered else "",
                    time_limit_ms=30000,
                    response_ms="" if outcome == "timeout" else 4000,
                    started_at="",
                    answered_at="",
                    seed="7",
                    clock_rule="client_start",
                )
            )
            for slot in range(n_options):
                is_member = order[slot] == 0
                options.append(
                    dict(
                        study=study,
                        participant=f"P{expert:02d}",
                        session=str(100 + expert),
                        position=position,
                        question=question,
                        category="reidentification",
                        option=CODES[slot],
                        slot=slot + 1,
                        portrait=portraits[order[slot]],
                        kind="real",
                        disorder="KS",
                        used_in_training=int(is_member),
                        is_correct=int(is_member),
                        chosen=int(slot == chosen_slot),
                    )
                )
    return (
        pd.DataFrame(answers, columns=[*COLUMNS, "clock_rule"]),
        pd.DataFrame(options, columns=list(OPTION_COLUMNS)),
    )


def _counts_plan(counts) -> list[list[str]]:
    return [["hit"] * y + ["miss"] * (n - y) for y, n in counts]


def test_per_portrait_exact_binomial_and_holm_match_reference_values():
    _, options = _study(_counts_plan(ref.PORTRAIT_COUNTS))
    result = per_portrait_reidentification(load_options(options))
    members = result.members.loc[[f"member{m:02d}" for m in range(5)]]
    assert members[["n_chosen", "n_shown"]].to_numpy().tolist() == [list(c) for c in ref.PORTRAIT_COUNTS]
    assert_allclose(members["p_value"], ref.PORTRAIT_P, rtol=1e-12)
    assert_allclose(members["p_holm"], ref.PORTRAIT_P_HOLM, rtol=1e-12)
    # A second implementation: scipy's binomtest, as R's binom.test(alternative = "greater").
    scipy_p = [stats.binomtest(y, n, 1 / 3, alternative="greater").pvalue for y, n in ref.PORTRAIT_COUNTS]
    assert_allclose(members["p_value"], scipy_p, rtol=1e-10)
    summary = result.to_dict()
    assert summary["n_portraits"] == 5 and summary["n_above_chance_holm"] == 1
    assert summary["max_rate"] == 1.0 and summary["max_rate_portrait"] == "member00"
    assert_allclose(summary["max_rate_ci95"], ref.PORTRAIT_CI_10_10, rtol=1e-12)
    assert [r["portrait"] for r in summary["above_chance"]] == ["member00"]
    assert summary["chance"] == pytest.approx(1 / 3)


def test_non_members_get_how_often_they_were_wrongly_chosen():
    _, options = _study(_counts_plan(ref.PORTRAIT_COUNTS))
    loaded = load_options(options)
    result = per_portrait_reidentification(loaded)
    non = result.non_members
    answered = loaded[loaded["used_in_training"] == 0]
    expected = answered.groupby("portrait")["chosen"].agg(["sum", "size"])
    assert non["n_chosen"].to_dict() == expected["sum"].to_dict()
    assert non["n_shown"].to_dict() == expected["size"].to_dict()
    assert non["n_chosen"].sum() == sum(n - y for y, n in ref.PORTRAIT_COUNTS)
    assert (non["rate"] == non["n_chosen"] / non["n_shown"]).all()
    table = result.table()
    assert set(table["role"]) == {"member", "non_member"}
    assert table["p_value"][table["role"] == "non_member"].isna().all()


def test_skipped_and_timed_out_questions_are_not_counted_as_misses():
    # The export marks a skip or timeout by every `chosen` being 0 for the question.
    plan = [["hit"] * 6 + ["skipped", "timeout", "timeout"], ["skipped", "timeout"]]
    _, options = _study(plan)
    result = per_portrait_reidentification(load_options(options))
    row = result.members.loc["member00"]
    assert (row["n_chosen"], row["n_shown"], row["n_unanswered"]) == (6, 6, 3)
    assert "member01" not in result.members.index  # shown, never answered: not tested
    assert result.n_members_unanswered_only == 1
    assert (result.n_answered, result.n_unanswered) == (6, 5)


def test_a_memorised_portrait_is_flagged_after_holm():
    rng = np.random.default_rng(15)
    plan = [["hit"] * 10] + [list(np.where(rng.random(10) < 1 / 3, "hit", "miss")) for _ in range(19)]
    _, options = _study(plan, n_experts=20, seed=1)
    result = per_portrait_reidentification(load_options(options))
    flagged = result.members.index[result.members["above_chance"]].tolist()
    assert flagged == ["member00"]
    assert result.members.loc["member00", "p_holm"] == pytest.approx(20 * (1 / 3) ** 10)


@pytest.mark.slow
def test_chance_data_flag_at_most_alpha_of_the_time():
    # 200 seeded studies of 20 members x 10 answers, every answer a guess: Holm keeps the
    # family-wise false flag rate at most alpha (discreteness makes it far lower).
    alpha, flagged_studies = 0.05, 0
    for seed in range(200):
        rng = np.random.default_rng(seed)
        plan = [list(np.where(rng.random(10) < 1 / 3, "hit", "miss")) for _ in range(20)]
        _, options = _study(plan, n_experts=20, seed=seed)
        result = per_portrait_reidentification(options.astype({"used_in_training": float}), alpha)
        flagged_studies += result.n_above_chance_holm > 0
    assert flagged_studies / 200 <= alpha


def _write(tmp_path: Path, answers: pd.DataFrame, options: pd.DataFrame) -> tuple[Path, Path]:
    a, o = tmp_path / "answers.csv", tmp_path / "options.csv"
    answers.to_csv(a, index=False)
    options.to_csv(o, index=False)
    return a, o


def test_report_adds_per_portrait_only_with_options(tmp_path):
    answers, options = _study([["hit"] * 10] + _counts_plan([(3, 10)] * 11), n_experts=12)
    a, o = _write(tmp_path, answers, options)
    assert o.read_text().splitlines()[0] == ",".join(documented_columns("options"))
    df = load_export(a)
    plain = build_report(df)
    assert "per_portrait" not in plain["categories"]["reidentification"]["privacy"]
    assert PER_PORTRAIT_TABLE not in report_tables(plain)
    full = build_report(df, options=load_options(o))
    pp = full["categories"]["reidentification"]["privacy"].pop("per_portrait")
    # The memorised portrait is spread over ten experts: no expert beats chance, the
    # per-portrait finding is the only one.
    assert plain["findings"] == [] and len(full["findings"]) == 1
    assert "1 of 12 training portraits" in full["findings"].pop()
    assert full == plain  # nothing else changes
    assert pp["n_portraits"] == 12 and pp["n_above_chance_holm"] == 1
    assert pp["max_rate_n"] == [10, 10]
    json.dumps(pp, allow_nan=False)


def test_report_refuses_options_of_another_export(tmp_path):
    answers, options = _study(_counts_plan([(3, 10)] * 12), n_experts=12)
    df = load_export(answers)
    with pytest.raises(ExportError, match="no rows of study 's'"):
        build_report(df, options=load_options(options.assign(study="other")))
    fewer = options[options["position"] != 1]
    with pytest.raises(ExportError, match="only in the answers export"):
        build_report(df, options=load_options(fewer))
    moved = options.copy()
    first = moved.index[(moved["session"] == "100") & (moved["position"] == 1)]
    moved.loc[first, "chosen"] = np.roll(moved.loc[first, "chosen"].to_numpy(), 1)
    with pytest.raises(ExportError, match="the answers say choice"):
        build_report(df, options=load_options(moved))


def test_cli_writes_json_csv_and_markdown(tmp_path):
    answers, options = _study([["hit"] * 10] + _counts_plan([(3, 10)] * 11), n_experts=12)
    a, o = _write(tmp_path, answers, options)
    out = tmp_path / "out"
    assert main(["report", str(a), "--options", str(o), "--json", str(out / "r.json"), "--no-figures"]) == 0
    data = json.loads((out / "r.json").read_text())
    pp = data["categories"]["reidentification"]["privacy"]["per_portrait"]
    for key in _documented_per_portrait_keys():
        assert key in pp, key
    table = pd.read_csv(out / f"r_{PER_PORTRAIT_TABLE}.csv")
    member = table[table["portrait"] == "member00"].iloc[0]
    assert (member["role"], member["n_chosen"], member["n_shown"]) == ("member", 10, 10)
    assert bool(member["above_chance"]) is True
    assert len(table) == len(pp["table"]) == 12 + pp["n_non_members"]
    md = (out / "r.md").read_text()
    assert "### Per training portrait" in md and "`member00`" in md
    assert "not independent" in md
    assert "options_sha256" in data["provenance"]
    assert any("training portraits" in f for f in data["findings"])


def _documented_per_portrait_keys() -> list[str]:
    page = (ROOT / "docs" / "exports.md").read_text()
    found = re.search(r"`categories\.reidentification\.privacy\.per_portrait\.\{([a-z_0-9, ]+)\}`", page)
    assert found, "docs/exports.md documents privacy.per_portrait"
    return [k.strip() for k in found.group(1).split(",")]


def test_options_read_from_semicolon_csv_xlsx_and_json(tmp_path):
    _, options = _study(_counts_plan(ref.PORTRAIT_COUNTS))
    expected = per_portrait_reidentification(load_options(options)).to_dict()
    semicolon = tmp_path / "options_semicolon.csv"
    options.to_csv(semicolon, index=False, sep=";")
    xlsx = tmp_path / "options.xlsx"
    options.to_excel(xlsx, index=False)
    as_json = tmp_path / "options.json"
    as_json.write_text(options.to_json(orient="records"))
    for path in (semicolon, xlsx, as_json):
        assert per_portrait_reidentification(load_options(path)).to_dict() == expected, path


@pytest.mark.parametrize(
    ("edit", "column", "row", "message"),
    [
        (lambda d: d.drop(columns="chosen"), "chosen", None, "required column missing"),
        (lambda d: d.assign(chosen=d["chosen"].where(d.index != 1, 1)), "chosen", 1, "2 chosen options"),
        (
            lambda d: d.assign(is_correct=d["is_correct"].where(d.index != 0, 1 - d["is_correct"])),
            "is_correct",
            1,
            "right options",
        ),
        (lambda d: d.assign(slot=d["slot"].where(d.index != 1, d["slot"].iat[0])), "slot", 2, "twice"),
        (lambda d: d.assign(chosen=d["chosen"].where(d.index != 4, 2)), "chosen", 5, "must be 0 or 1"),
        (
            lambda d: d.assign(used_in_training=d["used_in_training"].astype(object).where(d.index != 2, "")),
            "used_in_training",
            3,
            "is empty",
        ),
        (
            lambda d: d.assign(
                kind=d["kind"].where(d.index != 3, "synthetic"),
                used_in_training=d["used_in_training"].astype(object).where(d.index != 3, ""),
            ),
            "kind",
            4,
            "re-identification",
        ),
        (lambda d: d.assign(category=d["category"].where(d.index != 5, "reid")), "category", 6, "unknown category"),
    ],
)
def test_bad_options_name_the_column_and_row(tmp_path, edit, column, row, message):
    _, options = _study(_counts_plan([(1, 3)]))
    # Make row 1 (0-based) and row 0 chosen together in the first question.
    options.loc[0:2, "chosen"] = [0, 0, 0]
    options.loc[0, "chosen"] = 1
    path = tmp_path / "bad.csv"
    edit(options).to_csv(path, index=False)
    with pytest.raises(ExportError, match=message) as err:
        load_options(path)
    assert (err.value.column, err.value.row) == (column, row)


def test_cli_bad_options_is_one_line_and_exit_2(tmp_path, capsys):
    answers, options = _study(_counts_plan([(3, 10)] * 12), n_experts=12)
    a, o = _write(tmp_path, answers, options.drop(columns="portrait"))
    code = main(["report", str(a), "--options", str(o), "--json", str(tmp_path / "r.json"), "--no-figures"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "column 'portrait'" in err
    assert not (tmp_path / "r.json").exists()
    code = main(["report", str(a), "--options", str(tmp_path), "--json", str(tmp_path / "r.json")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "is a directory" in err


def test_cli_process_exit_status_is_2_for_bad_options(tmp_path):
    answers, options = _study(_counts_plan([(3, 10)] * 12), n_experts=12)
    a, o = _write(tmp_path, answers, options.assign(study="other"))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "analysis",
            "report",
            str(a),
            "--options",
            str(o),
            "--json",
            str(tmp_path / "r.json"),
            "--no-figures",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and "study 's'" in result.stderr
