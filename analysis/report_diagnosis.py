"""The report's comparison of diagnosis on real and synthetic portraits.

The difference test (chi-squared, Fisher), the equivalence test (TOST), both also
clustered by participant and adjusted for disorder (Mantel-Haenszel), the power the TOST
had and the smallest margin it could show, and the sentence a reader can quote.
"""

from __future__ import annotations

import warnings
from typing import Any

import pandas as pd

from .clustered import gee_vs_chance, participant_counts
from .clustered_comparison import clustered_difference
from .comparison import chi2_two_proportions, fisher_two_proportions, tost_two_proportions
from .equivalence_power import MARGIN_RATIONALE, minimum_equivalence_margin, tost_power
from .report_common import GEE_READING, _binomial_dict, _counts_dict, _significant, _with_ci95
from .report_format import _pct_label
from .results import NotTested, TestResult
from .stratified import mantel_haenszel_difference
from .summary import kind_summary


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
