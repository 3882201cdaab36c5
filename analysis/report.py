"""The full report: every test of the study from one export, as a JSON-ready dict and Markdown."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd

from .bootstrap import DEFAULT_BOOTSTRAP_SEED, participant_bootstrap, participant_sign_flip_test
from .clustered import (
    clustered_difference,
    clustered_excess_bound,
    gee_vs_chance,
    participant_counts,
)
from .comparison import chi2_two_proportions, fisher_two_proportions, tost_two_proportions
from .export import ExportError
from .mixed import MIXED_READING, random_intercept_vs_chance
from .portraits import per_portrait_reidentification
from .power import MARGIN_RATIONALE, minimum_equivalence_margin, tost_power
from .privacy import per_expert_vs_chance
from .proportions import binomial_vs_chance, excess_over_chance_bound, proportion_ci
from .results import NotTested, TestResult
from .sensitivity import exclusion_sensitivity
from .stratified import mantel_haenszel_difference
from .summary import (
    MIN_ANSWERS,
    category_summary,
    disorder_breakdown,
    exclusion_summary,
    kind_summary,
    response_time_summary,
)
from .timing import DEFAULT_GRACE_MS, DEFAULT_MIN_RESPONSE_MS, implausible_times

__all__ = ["build_report", "render_markdown"]

#: What the GEE estimate means, in words a reader can quote.
GEE_READING = "population average: the accuracy of a random answer from a random expert, from the GEE"

_TITLES = {
    "real_vs_synthetic": "1. Real vs synthetic (find the real portrait)",
    "reidentification": "2. Re-identification (find the training member)",
    "diagnosis": "3. Diagnosis (name the disorder)",
}


def build_report(
    df: pd.DataFrame,
    margin: float = 0.10,
    alpha: float = 0.05,
    min_answers: int = MIN_ANSWERS,
    margin_source: str | None = None,
    min_response_ms: float = DEFAULT_MIN_RESPONSE_MS,
    grace_ms: float = DEFAULT_GRACE_MS,
    seed: int = DEFAULT_BOOTSTRAP_SEED,
    options: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Run every test of the study on a validated export.

    Parameters
    ----------
    df : pandas.DataFrame
        From :func:`load_export`; one study.
    margin : float
        Equivalence margin for real vs synthetic diagnosis accuracy (0.10 = ±10 points).
    alpha : float
        Level of every test.
    min_answers : int
        Fewer answers than this in a group: counts and a reason, no p-value.
    margin_source : str, optional
        Where the margin came from, printed beside it (default: the documented
        default and its rationale, ``MARGIN_RATIONALE``).
    min_response_ms, grace_ms : float
        Answers faster than ``min_response_ms`` or slower than the time limit
        plus ``grace_ms`` are flagged and counted (never dropped).
    seed : int
        Seed of the participant-level bootstrap and sign-flip test.
    options : pandas.DataFrame, optional
        The item-level export from :func:`analysis.options.load_options`, from
        the same export as ``df``. Given, the re-identification privacy entry
        gains ``per_portrait`` (:func:`per_portrait_reidentification`); its
        re-identification questions and choices must match ``df``'s.

    Returns
    -------
    dict
        JSON-ready (no NaN; ``None`` where a number does not exist). Holds the
        docs/exports.md keys ``categories`` and ``diagnosis_real_vs_synthetic`` and
        adds ``exclusions``, clustered analyses, ``disorders``,
        ``response_times`` and ``findings`` (plain sentences).

    Raises
    ------
    ExportError
        When the export holds more than one study, or a category mixes option counts,
        or ``options`` does not match the answers (another study, other questions,
        other choices).

    Examples
    --------
    >>> from analysis import load_export, build_report
    >>> r = build_report(load_export("fixtures/paper_export.csv"))
    >>> f"{r['categories']['real_vs_synthetic']['binomial']['p_value']:.2g}"
    '1.9e-05'
    >>> round(r['categories']['reidentification']['binomial']['p_value'], 3)
    0.889
    """
    if not 0 < margin < 1:
        raise ValueError(f"margin must lie in (0, 1), got {margin!r}")
    if not 0 < alpha < 0.5:
        raise ValueError(f"alpha must lie in (0, 0.5), got {alpha!r}")
    studies = df["study"].unique()
    if len(studies) > 1:
        second = int(np.flatnonzero(df["study"].to_numpy() != studies[0])[0]) + 1
        names = ", ".join(map(str, studies[:5]))
        raise ExportError(
            f"the export holds {len(studies)} studies ({names}); the report covers one: choose it with --study",
            column="study",
            row=second,
        )
    findings: list[str] = []
    answered = df[df["outcome"] == "answered"]
    times = implausible_times(df, min_response_ms, grace_ms)
    categories = {}
    for cat, row in category_summary(df).iterrows():
        rows = answered[answered["category"] == cat]
        flagged = times.flags[times.flags["category"] == cat]
        categories[cat] = _category_entry(row, rows, alpha, min_answers, findings, cat, seed, flagged)
    if options is not None and "privacy" in categories.get("reidentification", {}):
        per_portrait = _per_portrait(df, options, str(studies[0]), alpha, findings)
        categories["reidentification"]["privacy"]["per_portrait"] = per_portrait
    timing = times.summary()
    if timing["n_too_fast"] or timing["n_beyond_limit"]:
        findings.append(
            f"response times: {timing['n_too_fast']} answer(s) faster than "
            f"{min_response_ms:g} ms and {timing['n_beyond_limit']} later than the time limit "
            f"plus {grace_ms:g} ms grace; they are counted in the tests (flagged, not "
            "dropped); the sensitivity table shows each category without them."
        )
    report: dict[str, Any] = {
        "study": str(studies[0]),
        "n_participants": int(df["participant"].nunique()),
        "alpha": alpha,
        "margin": margin,
        "margin_source": margin_source or MARGIN_RATIONALE,
        "exclusions": exclusion_summary(df),
        "implausible_times": timing,
        # The largest limit per category: what the response-time figure draws.
        "time_limits_ms": {
            str(c): int(v) for c, v in df.groupby("category", sort=False)["time_limit_ms"].max().items()
        },
        "categories": categories,
        "diagnosis_real_vs_synthetic": _diagnosis_entry(
            df, answered, margin, alpha, min_answers, findings, margin_source
        ),
        "disorders": _records(disorder_breakdown(df, min_answers)),
        "response_times": _records(response_time_summary(df)),
        "findings": findings,
    }
    return _json_safe(report)


def _counts_dict(row: pd.Series) -> dict[str, Any]:
    out: dict[str, Any] = {k: int(row[k]) for k in ("n_presented", "n_skipped", "n_timeout", "n_answered", "n_correct")}
    out["accuracy"] = None if out["n_answered"] == 0 else out["n_correct"] / out["n_answered"]
    return out


def _binomial_dict(k: int, n: int, chance: float, min_answers: int) -> dict[str, Any]:
    if n == 0:
        return {
            "p_value": None,
            "p_value_greater": None,
            "ci95": None,
            "reason": "no answered questions (all skipped or timed out)",
        }
    ci = list(proportion_ci(k, n))
    if n < min_answers:
        return {
            "p_value": None,
            "p_value_greater": None,
            "ci95": ci,
            "ci95_wilson": list(proportion_ci(k, n, method="wilson")),
            "reason": f"only {n} answered question(s); at least {min_answers} are needed "
            "before a p-value means anything",
        }
    two = binomial_vs_chance(k, n, chance)
    greater = binomial_vs_chance(k, n, chance, alternative="greater")
    return {
        "p_value": two.p_value,
        "p_value_greater": greater.p_value,
        "ci95": ci,
        "ci95_wilson": list(proportion_ci(k, n, method="wilson")),
        "statistic": two.statistic,
        "method": two.method,
    }


def _significant(p: float | None, alpha: float) -> bool | None:
    return None if p is None else p < alpha


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


def _with_ci95(result: TestResult | NotTested, reading: str | None = None) -> dict[str, Any]:
    """A result's dict with ``ci95`` beside ``ci`` and, if given, what its estimate means."""
    out = result.to_dict()
    if isinstance(result, TestResult):
        out["ci95"] = list(result.ci)
    if reading:
        out["reading"] = reading
    return out


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


def _equivalence_power(entry: dict[str, Any], margin: float, alpha: float, margin_source: str | None) -> dict[str, Any]:
    """Power the TOST had at these sample sizes, and the margin it could have shown."""
    r, s = entry["real"], entry["synthetic"]
    pooled = (r["n_correct"] + s["n_correct"]) / (r["n_answered"] + s["n_answered"])
    tost = entry["tost"]
    out: dict[str, Any] = {
        "margin": margin,
        "margin_source": margin_source or MARGIN_RATIONALE,
        "assumed_accuracy": pooled,
        "assumed_difference": 0.0,
        "achieved_power": tost_power(pooled, pooled, r["n_answered"], s["n_answered"], margin, alpha),
        "minimum_margin": minimum_equivalence_margin(tost["estimate"], tost["extra"]["se"], alpha),
        "method": "normal approximation of the Wald TOST at the observed answers, true "
        "difference 0 at the pooled accuracy",
    }
    clustered = entry.get("clustered", {})
    if "tost" in clustered:
        c = clustered["tost"]
        out["achieved_power_clustered"] = tost_power(
            pooled, pooled, r["n_answered"], s["n_answered"], margin, alpha, c["extra"]["design_effect"]
        )
        out["minimum_margin_clustered"] = minimum_equivalence_margin(
            c["estimate"], c["extra"]["se"], alpha, c["extra"]["df"]
        )
    adjusted = entry.get("disorder_adjusted", {})
    if adjusted.get("tost"):
        a = adjusted["tost"]
        out["minimum_margin_disorder_adjusted"] = minimum_equivalence_margin(a["estimate"], a["extra"]["se"], alpha)
    return out


def _diagnosis_entry(
    df: pd.DataFrame,
    answered: pd.DataFrame,
    margin: float,
    alpha: float,
    min_answers: int,
    findings: list[str],
    margin_source: str | None = None,
) -> dict[str, Any]:
    if not (df["category"] == "diagnosis").any():
        return {
            "chi2": None,
            "p_value": None,
            "fisher_p_value": None,
            "reason": "the export has no diagnosis questions",
        }
    kinds = kind_summary(df, "diagnosis")
    chance = float(1.0 / df.loc[df["category"] == "diagnosis", "n_options"].iat[0])
    entry: dict[str, Any] = {}
    for kind in ("real", "synthetic"):
        if kind in kinds.index:
            d = _counts_dict(kinds.loc[kind])
        else:
            d = {"n_presented": 0, "n_skipped": 0, "n_timeout": 0, "n_answered": 0, "n_correct": 0, "accuracy": None}
        d["chance"] = chance
        d["binomial"] = _binomial_dict(d["n_correct"], d["n_answered"], chance, min_answers)
        entry[kind] = d
    r, s = entry["real"], entry["synthetic"]
    small = [k for k in ("real", "synthetic") if entry[k]["n_answered"] < min_answers]
    pure = all(entry[k]["n_correct"] in (0, entry[k]["n_answered"]) for k in entry)
    if small or pure:
        entry.update(
            chi2=None,
            p_value=None,
            fisher_p_value=None,
            reason=(
                f"fewer than {min_answers} answers on {' and '.join(small)} portraits"
                if small
                else "no variation in correctness"
            ),
        )
        findings.append(f"diagnosis real vs synthetic: not tested: {entry['reason']}.")
        return entry
    args = (r["n_correct"], r["n_answered"], s["n_correct"], s["n_answered"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        chi2 = chi2_two_proportions(*args)
    fisher = fisher_two_proportions(*args)
    tost = tost_two_proportions(*args, margin=margin, alpha=alpha)
    entry.update(
        chi2=chi2.statistic,
        p_value=chi2.p_value,
        fisher_p_value=fisher.p_value,
        difference=chi2.estimate,
        chi2_test=chi2.to_dict(),
        fisher=fisher.to_dict(),
        tost=tost.to_dict(),
    )
    if caught:
        entry["chi2_warning"] = str(caught[0].message)
    counts = {
        kind: participant_counts(rows["participant"], rows["correct"])
        for kind, rows in answered[answered["category"] == "diagnosis"].groupby("stimulus_kind")
    }
    for kind in ("real", "synthetic"):
        # Per kind against chance, clustered: the figure draws these intervals dark.
        entry[kind]["clustered"] = _with_ci95(gee_vs_chance(counts[kind], chance), GEE_READING)
    clustered = clustered_difference(counts["real"], counts["synthetic"], margin, alpha)
    if isinstance(clustered, NotTested):
        entry["clustered"] = clustered.to_dict()
    else:
        entry["clustered"] = {"difference": clustered[0].to_dict(), "tost": clustered[1].to_dict()}
    entry["disorder_adjusted"] = _disorder_adjusted(answered, chi2, tost, margin, alpha, findings)
    equiv = tost.extra["equivalent"]
    headline = tost
    if not isinstance(clustered, NotTested) and clustered[1].extra["equivalent"] != equiv:
        headline = clustered[1]  # the findings below say to trust the clustered analysis
    entry["headline_tost"] = {
        "analysis": "clustered" if headline is not tost else "naive",
        "p_value": headline.p_value,
        "ci": list(headline.ci),
        "conf_level": headline.conf_level,
    }
    h_equiv = headline.extra["equivalent"]
    phrase = (
        f"real {100 * r['accuracy']:.1f}% vs synthetic {100 * s['accuracy']:.1f}%, "
        f"difference {100 * chi2.estimate:+.1f} points, {_pct_label(headline.conf_level)}"
        f" CI [{100 * headline.ci[0]:+.1f}, {100 * headline.ci[1]:+.1f}]"
    )
    entry["statement"] = (
        f"Diagnostic accuracy on synthetic portraits is "
        f"{'equivalent' if h_equiv else 'not shown equivalent'}"
        f" to real ones within ±{100 * margin:.0f} points ("
        f"{'participant-clustered ' if headline is not tost else ''}TOST p = "
        f"{headline.p_value:.3g}; {phrase})."
    )
    plan = _equivalence_power(entry, margin, alpha, margin_source)
    entry["equivalence_power"] = plan
    shown_at = plan.get("minimum_margin_clustered", plan["minimum_margin"])
    entry["statement"] += (
        f" At these numbers of answers the TOST had {100 * plan['achieved_power']:.0f}% power "
        f"to show equivalence within ±{100 * margin:.0f} points if the accuracies were truly "
        f"equal; the data show equivalence at any margin above ±{100 * shown_at:.1f} points"
        f"{' (participant-clustered)' if 'minimum_margin_clustered' in plan else ''}."
    )
    if plan["achieved_power"] < 0.8:
        findings.append(
            f"diagnosis real vs synthetic: the equivalence test had only "
            f"{100 * plan['achieved_power']:.0f}% power at ±{100 * margin:.0f} points "
            f"({r['n_answered']} real and {s['n_answered']} synthetic answers); "
            f"`python -m analysis power --equivalence` plans the answers a conclusive test needs."
        )
    if not isinstance(clustered, NotTested):
        c_equiv = clustered[1].extra["equivalent"]
        if c_equiv != equiv:
            findings.append(
                f"diagnosis real vs synthetic: the naive TOST "
                f"{'shows' if equiv else 'does not show'}"
                f" equivalence within ±{100 * margin:.0f} points (p = {tost.p_value:.3g}) but "
                f"with participant-clustered standard errors it {'does' if c_equiv else 'does not'}"
                f" (p = {clustered[1].p_value:.3g}); trust the clustered analysis."
            )
    return entry


def _disorder_adjusted(
    answered: pd.DataFrame, crude: TestResult, crude_tost: TestResult, margin: float, alpha: float, findings: list[str]
) -> dict[str, Any]:
    diag = answered[answered["category"] == "diagnosis"]
    grouped = diag.groupby(["disorder", "stimulus_kind"])["correct"].agg(["size", "sum"])
    wide = grouped.unstack("stimulus_kind", fill_value=0)
    strata = pd.DataFrame(
        {
            "y1": wide[("sum", "real")],
            "n1": wide[("size", "real")],
            "y2": wide[("sum", "synthetic")],
            "n2": wide[("size", "synthetic")],
        }
    )
    result = mantel_haenszel_difference(strata, margin, alpha)
    if isinstance(result, NotTested):
        return {"method": result.method, "difference": None, "ci95": None, "p_value": None, "reason": result.reason}
    diff, tost = result
    at_95 = mantel_haenszel_difference(strata, margin, 0.05)
    assert not isinstance(at_95, NotTested)  # testable at alpha, so at 0.05: the same strata
    ci95 = at_95[0].ci
    out = {
        "method": diff.method,
        "difference": diff.estimate,
        "ci95": list(ci95),
        "p_value": diff.p_value,
        "test": diff.to_dict(),
        "tost": tost.to_dict(),
    }
    crude_sig, adj_sig = crude.p_value < alpha, _significant(diff.p_value, alpha)
    crude_eq, adj_eq = crude_tost.extra["equivalent"], tost.extra["equivalent"]
    out["agrees_with_crude"] = (adj_sig is None or crude_sig == adj_sig) and crude_eq == adj_eq
    if not out["agrees_with_crude"]:
        findings.append(
            f"diagnosis real vs synthetic: the crude comparison (difference "
            f"{100 * crude.estimate:+.1f} points, p = {crude.p_value:.3g}, "
            f"{'equivalent' if crude_eq else 'not equivalent'}) and the disorder-adjusted one "
            f"(Mantel-Haenszel {100 * diff.estimate:+.1f} points, p = {diff.p_value:.3g}, "
            f"{'equivalent' if adj_eq else 'not equivalent'}) disagree: real and synthetic "
            "portraits come in different disorder mixes; trust the adjusted comparison."
        )
    return out


def _pct_label(conf_level: float) -> str:
    return f"{100 * conf_level:.10g}%"


def _result_dict(result: TestResult | NotTested) -> dict[str, Any]:
    return result.to_dict()


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.to_dict(orient="records")


def _json_safe(value: Any) -> Any:
    """Plain Python types, NaN and infinities as None, so json.dump(allow_nan=False) works."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(value) else float(value)
    return value


def _fmt_p(p: float | None) -> str:
    if p is None:
        return "—"
    if p == 0:
        return "< 1e-300"  # below double precision; the exact value is smaller still
    return f"{p:.2e}" if p < 1e-3 else f"{p:.3f}"


def _fmt_pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def _fmt_pts(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:+.1f}"


def _fmt_ci(ci) -> str:
    return "—" if ci is None else f"[{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"


def render_markdown(report: dict[str, Any], figures: dict[str, str] | None = None) -> str:
    """The report as Markdown: tables a reader can check and sentences a reader can quote.

    Parameters
    ----------
    report : dict
        From :func:`build_report` (or read back from its JSON).
    figures : dict, optional
        Figure name -> relative path, embedded as images.

    Examples
    --------
    >>> from analysis import load_export, build_report, render_markdown
    >>> md = render_markdown(build_report(load_export("fixtures/paper_export.csv")))
    >>> md.splitlines()[0]
    '# Expert survey report: gestaltgan-2023'
    """
    ex = report["exclusions"]
    lines = [
        f"# Expert survey report: {report['study']}",
        "",
        f"{report['n_participants']} participants. {ex['n_presented']} questions presented, "
        f"{ex['n_skipped']} skipped, {ex['n_timeout']} timed out, {ex['n_analysed']} "
        f"answered and analysed. Skips and timeouts are left out of every accuracy. "
        f"Level α = {report['alpha']}.",
        "",
    ]
    prov = report.get("provenance")
    if prov:
        lines += [
            f"Produced by analysis {prov['version']} on {prov.get('date', '')} from an "
            f"input with SHA-256 `{prov['input_sha256']}`: `{prov['command']}`.",
            "",
        ]
    if report["findings"]:
        lines += ["## Findings to read first", ""] + [f"- {f}" for f in report["findings"]] + [""]
    if figures:
        lines += [f"![{name}]({path})" for name, path in figures.items()] + [""]
    lines += [
        "## Accuracy against chance, per category",
        "",
        "| category | presented | skipped | timeout | answered | correct | accuracy | chance "
        "| 95% CI (Clopper-Pearson) | 95% CI (Wilson) | p two-sided | p greater |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---:|",
    ]
    for cat, e in report["categories"].items():
        b = e["binomial"]
        lines.append(
            f"| {cat} | {e['n_presented']} | {e['n_skipped']} | {e['n_timeout']} | "
            f"{e['n_answered']} | {e['n_correct']} | {_fmt_pct(e['accuracy'])} | "
            f"{_fmt_pct(e['chance'])} | {_fmt_ci(b.get('ci95'))} | "
            f"{_fmt_ci(b.get('ci95_wilson'))} | {_fmt_p(b['p_value'])} | "
            f"{_fmt_p(b['p_value_greater'])} |"
        )
    lines += ["", "Exact binomial tests against 1/n_options (R: `binom.test`).", ""]
    for cat, e in report["categories"].items():
        if "reason" in e["binomial"]:
            lines.append(f"- **{cat}**: no test — {e['binomial']['reason']}.")
    lines += [
        "",
        "## Clustered by participant (GEE, exchangeable)",
        "",
        "Each expert answers about ten questions per category, so answers are not "
        "independent. The GEE below allows for that; the design effect says how much the "
        "clustering inflates the variance (effective n = n / design effect).",
        "",
        "| category | GEE accuracy | 95% CI | ICC | design effect | effective n | p (Wald) "
        "| naive p | same conclusion? |",
        "|---|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for cat, e in report["categories"].items():
        c = e["clustered"]
        if c.get("p_value") is None:
            lines.append(
                f"| {cat} | — | — | — | — | — | — | {_fmt_p(e['binomial']['p_value'])} | {c.get('reason', '')} |"
            )
            continue
        agree = e.get("naive_vs_clustered", {}).get("agree")
        lines.append(
            f"| {cat} | {_fmt_pct(c['estimate'])} | {_fmt_ci(c['ci'])} | "
            f"{c['extra']['icc']:.3f} | {c['extra']['design_effect']:.2f} | "
            f"{c['extra']['effective_n']:.0f} | {_fmt_p(c['p_value'])} | "
            f"{_fmt_p(e['binomial']['p_value'])} | "
            f"{'yes' if agree else '**no**' if agree is not None else '—'} |"
        )
    lines += [
        "",
        "## Which accuracy: the average answer or the typical expert",
        "",
        "The GEE estimates the **population average**: how often an answer from a "
        "randomly chosen expert is right. The random-intercept logistic model estimates "
        "the **typical expert**: the accuracy of the median expert, allowing each expert "
        "their own skill. They differ when experts differ; both are valid, they answer "
        "different questions. The participant bootstrap and sign-flip test resample "
        "whole experts and assume no model.",
        "",
        "| category | GEE (population average) | mixed model (typical expert) | "
        "between-expert SD (logit) | bootstrap 95% CI | sign-flip p |",
        "|---|---|---|---:|---|---:|",
    ]
    for cat, e in report["categories"].items():
        c, m = e["clustered"], e.get("mixed", {})
        boot = e.get("resampling", {}).get("bootstrap", {})
        flip = e.get("resampling", {}).get("sign_flip", {})

        def cell(r: dict[str, Any]) -> str:
            if r.get("p_value") is None:
                return f"— ({r.get('reason', 'not tested')})"
            return f"{_fmt_pct(r['estimate'])} {_fmt_ci(r.get('ci95'))}, p = {_fmt_p(r['p_value'])}"

        sd = m.get("extra", {}).get("sigma") if m.get("p_value") is not None else None
        lines.append(
            f"| {cat} | {cell(c)} | {cell(m)} | "
            f"{'—' if sd is None else f'{sd:.2f}'} | {_fmt_ci(boot.get('ci95'))} | "
            f"{_fmt_p(flip.get('p_value'))} |"
        )
    lines += [
        "",
        "GEE: `geepack::geeglm` with the Mancl-DeRouen variance, t on experts − 1 df. "
        "Mixed model: `lme4::glmer(correct ~ 1 + (1 | participant), family = binomial, "
        "nAGQ = 25)`, likelihood-ratio test and profile interval. Bootstrap: experts "
        "resampled with replacement, percentile interval; sign flip: each expert's "
        "excess over chance with a random sign (seeded; see the JSON for the seed).",
    ]
    reid = report["categories"].get("reidentification", {})
    if "privacy" in reid:
        pe = reid["privacy"]["per_expert"]
        lines += [
            "",
            "## Re-identification: how far above chance, at most",
            "",
            f"Experts re-identified training members "
            f"{reid['privacy']['statement']}. A non-significant test alone "
            "does not show privacy; this bound is the claim the data support.",
            "",
            f"Per expert (exact binomial, one-sided, Holm across {pe['n_experts']} "
            f"experts): {pe['n_above_chance_holm']} re-identified above chance; the "
            f"largest per-expert excess is {_fmt_pts(pe['max_excess'])} points.",
        ]
        boot_upper = reid["privacy"].get("bootstrap_upper")
        if boot_upper is not None:
            lines[-1] += f" The participant bootstrap's one-sided 95% bound is {_fmt_pts(boot_upper)} points."
        pp = reid["privacy"].get("per_portrait")
        if pp is not None:
            lines += [
                "",
                "### Per training portrait (from the options export)",
                "",
                f"{pp['n_portraits']} training members were shown in answered questions "
                f"(median {pp['median_shown'] or 0:g} answers each; chance "
                f"{_fmt_pct(pp['chance'])}). Exact binomial per member, one-sided, Holm "
                f"across members: {pp['n_above_chance_holm']} chosen above chance. "
                + (
                    ""
                    if pp["max_rate"] is None
                    else f"The most chosen member was found {pp['max_rate_n'][0]} of "
                    f"{pp['max_rate_n'][1]} times ({_fmt_pct(pp['max_rate'])}, 95% CI "
                    f"{_fmt_ci(pp['max_rate_ci95'])}). "
                )
                + f"Caveat: {pp['caveat']}. Every portrait's counts are in the "
                "`table_per_portrait` CSV.",
            ]
            if pp["above_chance"]:
                lines += [
                    "",
                    "| portrait (SHA-256) | disorder | chosen | shown | rate | p Holm |",
                    "|---|---|---:|---:|---:|---:|",
                ]
                lines += [
                    f"| `{r['portrait'][:12]}` | {r['disorder']} | {r['n_chosen']} | "
                    f"{r['n_shown']} | {_fmt_pct(r['rate'])} | {_fmt_p(r['p_holm'])} |"
                    for r in pp["above_chance"]
                ]
    sens = [(c, e["sensitivity"]) for c, e in report["categories"].items() if "sensitivity" in e]
    if sens:
        lines += [
            "",
            "## Sensitivity: skips, timeouts and implausible times",
            "",
            "| category | excluded (primary) p | counted wrong p | counted at chance p "
            "| conclusion changes? | without implausible times p |",
            "|---|---:|---:|---:|---|---:|",
        ]
        for c, x in sens:
            kept = x.get("without_implausible_times", {})
            lines.append(
                f"| {c} | {_fmt_p(x['excluded']['p_value'])} | "
                f"{_fmt_p(x['as_wrong']['p_value'])} | "
                f"{_fmt_p(x['as_chance']['p_value'])} | "
                f"{'**yes**' if x['conclusion_changes'] else 'no'} | "
                f"{_fmt_p(kept.get('p_value'))} |"
            )
    times = report.get("implausible_times")
    if times:
        lines += [
            "",
            f"Implausible response times ({times['rule']}): "
            f"{times['n_too_fast']} too fast, {times['n_beyond_limit']} beyond the "
            "limit; the rows are listed in the `table_implausible_times` CSV.",
        ]
    d = report["diagnosis_real_vs_synthetic"]
    lines += ["", "## Diagnosis on real vs synthetic portraits", ""]
    if d.get("p_value") is None:
        lines.append(f"Not tested: {d.get('reason')}.")
    else:
        lines += [
            "| portraits | answered | correct | accuracy | 95% CI | p vs chance |",
            "|---|---:|---:|---:|---|---:|",
        ]
        for kind in ("real", "synthetic"):
            k = d[kind]
            lines.append(
                f"| {kind} | {k['n_answered']} | {k['n_correct']} | "
                f"{_fmt_pct(k['accuracy'])} | {_fmt_ci(k['binomial'].get('ci95'))} | "
                f"{_fmt_p(k['binomial']['p_value'])} |"
            )
        t = d["tost"]
        lines += [
            "",
            f"- Difference test: χ² = {d['chi2']:.3f} (Yates), "
            f"p = {_fmt_p(d['p_value'])}; "
            f"Fisher's exact p = {_fmt_p(d['fisher_p_value'])}. A large p here does **not** "
            "show that the accuracies are the same.",
            f"- Equivalence (TOST, margin ±{100 * t['extra']['margin']:.0f} points): "
            f"p = {_fmt_p(t['p_value'])}, {_pct_label(t['conf_level'])} CI of the "
            "difference "
            f"{_fmt_ci(t['ci'])} points. {d['statement']}",
        ]
        plan = d.get("equivalence_power")
        if plan:
            lines.append(
                f"- Margin: ±{100 * plan['margin']:g} points; source: "
                f"{plan['margin_source']}. Power of the TOST at these answers "
                f"(true difference 0): {100 * plan['achieved_power']:.0f}% naive"
                + (
                    f", {100 * plan['achieved_power_clustered']:.0f}% clustered"
                    if "achieved_power_clustered" in plan
                    else ""
                )
                + f". Smallest margin the data would show: "
                f"±{100 * plan['minimum_margin']:.1f} points naive"
                + (
                    f", ±{100 * plan['minimum_margin_clustered']:.1f} clustered"
                    if "minimum_margin_clustered" in plan
                    else ""
                )
                + (
                    f", ±{100 * plan['minimum_margin_disorder_adjusted']:.1f} disorder-adjusted"
                    if "minimum_margin_disorder_adjusted" in plan
                    else ""
                )
                + "."
            )
        a = d.get("disorder_adjusted", {})
        if a.get("p_value") is not None:
            lines.append(
                f"- Adjusted for disorder (Mantel-Haenszel): difference "
                f"{_fmt_pts(a['difference'])} points, 95% CI {_fmt_ci(a['ci95'])}, "
                f"CMH p = {_fmt_p(a['p_value'])}; stratified TOST p = "
                f"{_fmt_p(a['tost']['p_value'])}."
            )
        if "chi2_warning" in d:
            lines.append(f"- Warning: {d['chi2_warning']}.")
        c = d["clustered"]
        if "tost" in c:
            lines.append(
                f"- Clustered by participant: difference p = "
                f"{_fmt_p(c['difference']['p_value'])}, TOST p = "
                f"{_fmt_p(c['tost']['p_value'])} (design effect "
                f"{c['difference']['extra']['design_effect']:.2f})."
            )
    lines += [
        "",
        "## Per disorder",
        "",
        "Exact binomial test against chance per disorder; Holm (family-wise) and "
        "Benjamini-Hochberg (false discovery rate) adjusted within each category.",
        "",
        "| category | disorder | answered | correct | accuracy | p | p Holm | p BH | note |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in report["disorders"]:
        lines.append(
            f"| {r['category']} | {r['disorder']} | {r['n_answered']} | "
            f"{r['n_correct']} | {_fmt_pct(r['accuracy'])} | {_fmt_p(r['p_value'])} | "
            f"{_fmt_p(r['p_holm'])} | {_fmt_p(r['p_bh'])} | {r['reason']} |"
        )
    lines += [
        "",
        "## Response times (ms; timeouts have none)",
        "",
        "| category | result | n | median | IQR | mean |",
        "|---|---|---:|---:|---|---:|",
    ]
    for r in report["response_times"]:
        lines.append(
            f"| {r['category']} | {r['result']} | {r['n']} | {r['median']:.0f} | "
            f"{r['q1']:.0f}–{r['q3']:.0f} | {r['mean']:.0f} |"
        )
    return "\n".join(lines) + "\n"
