"""The report's entry for each category: accuracy against chance, every way it is tested.

One entry per category (real vs synthetic, re-identification, diagnosis): the counts,
the exact binomial test, the participant-clustered GEE, the random-intercept model, the
participant bootstrap and sign-flip test, the sensitivity to skips, timeouts and
implausible times, and for re-identification the privacy bounds (per expert, and per
training portrait when the options export is given). Each entry appends the findings a
reader must see first.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .bootstrap import participant_bootstrap, participant_sign_flip_test
from .clustered import clustered_excess_bound, gee_vs_chance, participant_counts
from .errors import ExportError
from .mixed import MIXED_READING, random_intercept_vs_chance
from .portraits import per_portrait_reidentification
from .privacy import per_expert_vs_chance
from .proportions import binomial_vs_chance, excess_over_chance_bound
from .report_common import GEE_READING, _binomial_dict, _counts_dict, _records, _significant, _with_ci95
from .results import NotTested, TestResult
from .sensitivity import exclusion_sensitivity


def _category_entry(
    row: pd.Series,
    rows: pd.DataFrame,
    alpha: float,
    min_answers: int,
    findings: list[str],
    cat: str,
    seed: int,
    flagged: pd.DataFrame,
) -> dict[str, Any]:
    entry = _counts_dict(row)
    chance = float(row["chance"])
    entry["chance"] = chance
    k, n = entry["n_correct"], entry["n_answered"]
    entry["binomial"] = _binomial_dict(k, n, chance, min_answers)
    counts = participant_counts(rows["participant"], rows["correct"])
    clustered = gee_vs_chance(counts, chance) if n else NotTested("GEE", 0, "no answers")
    entry["clustered"] = _with_ci95(clustered, GEE_READING)
    mixed = (
        random_intercept_vs_chance(counts, chance)
        if n
        else NotTested("random-intercept logistic regression", 0, "no answers")
    )
    entry["mixed"] = _with_ci95(mixed, MIXED_READING)
    bootstrap = (
        participant_bootstrap(counts, chance, seed=seed)
        if n
        else NotTested("participant-level bootstrap", 0, "no answers")
    )
    sign_flip = (
        participant_sign_flip_test(counts, chance, seed=seed)
        if n
        else NotTested("participant-level sign-flip test", 0, "no answers")
    )
    entry["resampling"] = {"bootstrap": _with_ci95(bootstrap), "sign_flip": sign_flip.to_dict()}
    entry["implausible_times"] = {
        "n_too_fast": int(flagged["too_fast"].sum()),
        "n_beyond_limit": int(flagged["beyond_limit"].sum()),
    }
    _estimand_finding(cat, clustered, mixed, alpha, findings)
    if n >= min_answers:
        bound = excess_over_chance_bound(k, n, chance)
        entry["excess_over_chance"] = {
            "estimate": bound.estimate,
            "upper_bound_95": bound.ci[1],
            "statement": f"at most {100 * bound.ci[1]:.1f} points above chance "
            f"(one-sided 95% Clopper-Pearson bound; observed "
            f"{100 * bound.estimate:+.1f})",
        }
        entry["sensitivity"] = _sensitivity(
            k, n, entry["n_skipped"] + entry["n_timeout"], chance, alpha, findings, cat, flagged
        )
        if cat == "reidentification":
            entry["privacy"] = _privacy(bound, clustered, counts, chance, alpha, findings, bootstrap)
    naive_sig = _significant(entry["binomial"]["p_value"], alpha)
    clus_sig = _significant(entry["clustered"].get("p_value"), alpha)
    entry["headline"] = {
        "analysis": "binomial",
        "p_value": entry["binomial"]["p_value"],
        "ci95": entry["binomial"].get("ci95"),
    }
    if naive_sig is not None and clus_sig is not None:
        agree = naive_sig == clus_sig
        entry["naive_vs_clustered"] = {
            "naive_significant": naive_sig,
            "clustered_significant": clus_sig,
            "agree": agree,
        }
        if not agree and isinstance(clustered, TestResult):  # clus_sig is set: the GEE was fitted
            entry["headline"] = {"analysis": "clustered", "p_value": clustered.p_value, "ci95": list(clustered.ci)}
            findings.append(
                f"{cat}: the naive binomial test {'rejects' if naive_sig else 'does not reject'}"
                f" chance (p = {entry['binomial']['p_value']:.3g}) but the participant-clustered"
                f" GEE {'rejects' if clus_sig else 'does not'} (p = "
                f"{entry['clustered']['p_value']:.3g}); trust the clustered analysis, which "
                f"allows for each expert answering several questions."
            )
    elif "reason" in entry["binomial"]:
        findings.append(f"{cat}: not tested: {entry['binomial']['reason']}.")
    return entry


def _sensitivity(
    k: int, n: int, excluded: int, chance: float, alpha: float, findings: list[str], cat: str, flagged: pd.DataFrame
) -> dict[str, Any]:
    results = exclusion_sensitivity(k, n, excluded, chance)
    out: dict[str, Any] = {
        name: {
            "p_value": r.p_value,
            "n_answered": r.n,
            "n_correct": int(r.statistic),
            "accuracy": r.estimate,
            "significant": r.p_value < alpha,
        }
        for name, r in results.items()
    }
    out["n_excluded"] = excluded
    # The primary analysis again without the answers whose times are implausible.
    drop = flagged[flagged["outcome"] == "answered"]
    k_kept, n_kept = k - int(drop["correct"].sum()), n - len(drop)
    if n_kept > 0:
        kept = binomial_vs_chance(k_kept, n_kept, chance)
        out["without_implausible_times"] = {
            "p_value": kept.p_value,
            "n_answered": n_kept,
            "n_correct": k_kept,
            "accuracy": kept.estimate,
            "significant": kept.p_value < alpha,
            "n_dropped": len(drop),
        }
    changed = [name for name in ("as_wrong", "as_chance") if out[name]["significant"] != out["excluded"]["significant"]]
    out["conclusion_changes"] = bool(changed)
    if changed:
        findings.append(
            f"{cat}: the conclusion depends on the {excluded} skips and timeouts: excluded "
            f"(primary) p = {out['excluded']['p_value']:.3g}, "
            + ", ".join(
                f"counted {name.replace('as_', 'as ')} p = {out[name]['p_value']:.3g}"
                for name in ("as_wrong", "as_chance")
            )
            + "."
        )
    return out


def _privacy(
    bound: TestResult,
    clustered: TestResult | NotTested,
    counts: pd.DataFrame,
    chance: float,
    alpha: float,
    findings: list[str],
    bootstrap: TestResult | NotTested,
) -> dict[str, Any]:
    experts = per_expert_vs_chance(counts, chance, alpha)
    above = int(experts["above_chance"].sum())
    clustered_upper = clustered_excess_bound(clustered) if isinstance(clustered, TestResult) else None
    out: dict[str, Any] = {
        "naive_upper": bound.ci[1],
        "clustered_upper": clustered_upper,
        "bootstrap_upper": (bootstrap.extra["upper_excess"] if isinstance(bootstrap, TestResult) else None),
        "per_expert": {
            "n_experts": len(experts),
            "n_above_chance_holm": above,
            "max_excess": float(experts["excess"].max()) if len(experts) else None,
            "method": "exact binomial, alternative greater, Holm across experts",
        },
    }
    if isinstance(clustered, NotTested):
        out["statement"] = (
            f"at most {100 * bound.ci[1]:.1f} points above chance (one-sided "
            f"95% Clopper-Pearson bound, not clustered: "
            f"{clustered.reason}; observed {100 * bound.estimate:+.1f})"
        )
    else:
        assert clustered_upper is not None  # the GEE was fitted, so its bound exists
        out["statement"] = (
            f"at most {100 * clustered_upper:.1f} points above chance (one-sided 95% bound "
            f"clustered by expert, GEE with bias-reduced SE; ignoring clustering it would be "
            f"{100 * bound.ci[1]:.1f}; observed {100 * bound.estimate:+.1f})"
        )
    if above:
        findings.append(
            f"reidentification: {above} of {len(experts)} experts re-identified training members "
            f"above chance (exact binomial, Holm across experts; largest excess "
            f"{100 * out['per_expert']['max_excess']:+.1f} points): a bound on the average "
            "expert does not show privacy against these experts."
        )
    return out


def _per_portrait(
    df: pd.DataFrame, options: pd.DataFrame, study: str, alpha: float, findings: list[str]
) -> dict[str, Any]:
    """Per-portrait re-identification, after checking the options belong to these answers."""
    opts = options[options["study"] == study]
    if opts.empty:
        raise ExportError(f"the options export holds no rows of study {study!r}", column="study", row=1)
    _check_options_match(df, opts)
    result = per_portrait_reidentification(opts, alpha)
    out = result.to_dict()
    out["table"] = _records(result.table())
    above = out["n_above_chance_holm"]
    if above:
        findings.append(
            f"reidentification: {above} of {out['n_portraits']} training portraits were "
            f"chosen more often than chance (exact binomial per portrait, Holm; most chosen "
            f"{out['max_rate_n'][0]}/{out['max_rate_n'][1]}): the generator may have memorised "
            "them; check those portraits before any release."
        )
    return out


def _check_options_match(df: pd.DataFrame, opts: pd.DataFrame) -> None:
    """The options' re-identification questions and choices are the answers' own."""
    keys = ["session", "position"]
    answers = df.loc[df["category"] == "reidentification", [*keys, "choice"]]
    reid = opts[opts["category"] == "reidentification"]
    shown = reid[keys].drop_duplicates()
    both = shown.merge(answers[keys], how="outer", indicator=True)
    lonely = both[both["_merge"] != "both"]
    if len(lonely):
        first = lonely.iloc[0]
        where = "the options export" if first["_merge"] == "left_only" else "the answers export"
        raise ExportError(
            f"re-identification question at session {first['session']!r}, position "
            f"{int(first['position'])} is only in {where}: the options file is not from the "
            "same export (or the same --study)",
            column="position",
        )
    chosen = reid.loc[reid["chosen"] == 1, [*keys, "option"]]
    paired = answers.merge(chosen, how="left", on=keys)
    differs = (paired["option"].fillna("") != paired["choice"]).to_numpy()
    if differs.any():
        first = paired.iloc[int(np.flatnonzero(differs)[0])]
        raise ExportError(
            f"session {first['session']!r}, position {int(first['position'])}: the answers "
            f"say choice {first['choice']!r} but the options export marks "
            f"{first['option'] if isinstance(first['option'], str) else 'none'!r} as chosen",
            column="chosen",
        )


def _estimand_finding(
    cat: str, clustered: TestResult | NotTested, mixed: TestResult | NotTested, alpha: float, findings: list[str]
) -> None:
    """Say so when the population-average and the subject-specific answers disagree."""
    if not (isinstance(clustered, TestResult) and isinstance(mixed, TestResult)):
        return
    gee_sig, mixed_sig = clustered.p_value < alpha, mixed.p_value < alpha
    if gee_sig == mixed_sig:
        return
    findings.append(
        f"{cat}: the population-average accuracy (GEE: a random answer from a random "
        f"expert, {100 * clustered.estimate:.1f}%, p = {clustered.p_value:.3g}) "
        f"{'differs from' if gee_sig else 'does not differ from'} chance, but the typical "
        f"expert's (random-intercept model, {100 * mixed.estimate:.1f}%, p = "
        f"{mixed.p_value:.3g}) {'does not' if gee_sig else 'does'}: "
        + (
            "a minority of experts carries the effect; say which of the two claims is meant."
            if gee_sig
            else "most experts beat chance by a little while a few score far below; say which of "
            "the two claims is meant."
        )
    )
