"""Hypothesis tests of the expert survey, rerunnable from the tidy export alone.

No Django, no torch: numpy, scipy, pandas, statsmodels, matplotlib. Each test is
one function returning a small frozen result (``TestResult``: statistic,
p_value, ci, n, method, ...); ``build_report`` runs them all on an export.
"""

from .bootstrap import participant_bootstrap, participant_sign_flip_test
from .clustered import clustered_excess_bound, gee_vs_chance, participant_counts
from .clustered_comparison import clustered_difference
from .comparison import chi2_two_proportions, fisher_two_proportions, tost_from_estimate, tost_two_proportions
from .equivalence_power import EquivalencePlan, minimum_equivalence_margin, plan_equivalence, tost_power
from .errors import ExportError
from .export import CATEGORIES, COLUMNS, OUTCOMES, load_export
from .mixed import random_intercept_loglik, random_intercept_vs_chance
from .options import OPTION_COLUMNS, load_options
from .portraits import PortraitReidentification, per_portrait_reidentification
from .power import PowerPlan, exact_binomial_power, plan_study
from .privacy import per_expert_vs_chance
from .proportions import binomial_vs_chance, excess_over_chance_bound, proportion_ci
from .report import build_report
from .report_markdown import render_markdown
from .results import NotTested, TestResult
from .sensitivity import exclusion_sensitivity
from .stratified import mantel_haenszel_difference
from .summary import category_summary, disorder_breakdown, exclusion_summary, kind_summary, response_time_summary
from .timing import implausible_times


def accuracy_figure(report, path):
    """Draw the paper's Fig. 4 analogue; see :func:`analysis.figures.accuracy_figure`."""
    # Imported lazily so that importing analysis does not load matplotlib.
    from .figures import accuracy_figure as draw

    return draw(report, path)


def response_time_figure(report, path):
    """Box plots of response times; see :func:`analysis.figures.response_time_figure`."""
    from .figures import response_time_figure as draw

    return draw(report, path)


__all__ = [
    "CATEGORIES",
    "COLUMNS",
    "OPTION_COLUMNS",
    "OUTCOMES",
    "PortraitReidentification",
    "load_options",
    "per_portrait_reidentification",
    "EquivalencePlan",
    "ExportError",
    "NotTested",
    "PowerPlan",
    "TestResult",
    "implausible_times",
    "minimum_equivalence_margin",
    "participant_bootstrap",
    "participant_sign_flip_test",
    "plan_equivalence",
    "random_intercept_loglik",
    "random_intercept_vs_chance",
    "tost_power",
    "accuracy_figure",
    "binomial_vs_chance",
    "build_report",
    "category_summary",
    "chi2_two_proportions",
    "clustered_difference",
    "clustered_excess_bound",
    "disorder_breakdown",
    "exact_binomial_power",
    "excess_over_chance_bound",
    "exclusion_sensitivity",
    "exclusion_summary",
    "mantel_haenszel_difference",
    "per_expert_vs_chance",
    "fisher_two_proportions",
    "gee_vs_chance",
    "kind_summary",
    "load_export",
    "participant_counts",
    "plan_study",
    "proportion_ci",
    "render_markdown",
    "response_time_figure",
    "response_time_summary",
    "tost_from_estimate",
    "tost_two_proportions",
]
