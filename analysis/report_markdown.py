"""The report as Markdown: :func:`render_markdown`, from the dict of :func:`analysis.report.build_report`.

It reads only that dict (or its JSON read back), so a report can be rendered again
without the export.
"""

from __future__ import annotations

from typing import Any

from .report_format import _fmt_ci, _fmt_p, _fmt_pct, _fmt_pts, _pct_label

__all__ = ["render_markdown"]


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
