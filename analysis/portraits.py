"""Re-identification per portrait, from the options export: which training members were found."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .errors import ExportError
from .privacy import per_expert_vs_chance
from .proportions import _check_probability, proportion_ci

__all__ = ["TABLE_COLUMNS", "PortraitReidentification", "per_portrait_reidentification"]

#: Columns of the per-portrait table (``PortraitReidentification.table()``).
TABLE_COLUMNS = (
    "portrait",
    "role",
    "disorder",
    "n_shown",
    "n_chosen",
    "rate",
    "chance",
    "excess",
    "ci95_low",
    "ci95_high",
    "p_value",
    "p_holm",
    "above_chance",
    "n_experts",
    "n_unanswered",
)

METHOD = "exact binomial per training member, alternative greater, against 1/n_options; Holm across members"
#: What a reader must keep in mind, printed with the result.
CAVEAT = (
    "each portrait is shown to few experts, so a single portrait has little power; and "
    "answers cluster by expert, so the per-portrait p-values are not independent of the "
    "experts who happened to see them"
)


@dataclass(frozen=True, eq=False)
class PortraitReidentification:
    """How often each portrait was chosen in re-identification questions.

    Attributes
    ----------
    members : pandas.DataFrame
        One row per training member shown in at least one answered question,
        indexed by ``portrait`` (content hash): ``disorder``, ``n_shown``
        (answered questions it was the member of), ``n_chosen``, ``rate``,
        ``chance``, ``excess``, ``ci95_low``/``ci95_high`` (Clopper-Pearson,
        two-sided), ``p_value`` (exact, greater), ``p_holm``, ``above_chance``,
        ``n_experts`` (distinct participants who answered it) and
        ``n_unanswered`` (questions with it that were skipped or timed out).
    non_members : pandas.DataFrame
        One row per non-member portrait shown in an answered question:
        ``disorder``, ``n_shown``, ``n_chosen`` (times wrongly chosen), ``rate``,
        ``chance``, ``ci95_low``/``ci95_high``, ``n_experts``.
    chance : float
        1 / options per re-identification question.
    alpha : float
        Family-wise level of the Holm adjustment.
    n_answered, n_unanswered : int
        Re-identification questions with one option chosen, and with none.
    n_members_unanswered_only : int
        Members shown only in skipped or timed-out questions (not tested).
    """

    members: pd.DataFrame
    non_members: pd.DataFrame
    chance: float
    alpha: float
    n_answered: int
    n_unanswered: int
    n_members_unanswered_only: int

    @property
    def n_above_chance_holm(self) -> int:
        return int(self.members["above_chance"].sum())

    def most_chosen_member(self) -> pd.Series | None:
        """The member with the largest rate (ties: the most answers, then the smallest p)."""
        if self.members.empty:
            return None
        order = self.members.sort_values(["rate", "n_shown", "p_value"], ascending=[False, False, True], kind="stable")
        return order.iloc[0]

    def to_dict(self) -> dict[str, Any]:
        """The summary the report's JSON carries (the tables go to a CSV)."""
        top = self.most_chosen_member()
        flagged = self.members[self.members["above_chance"]].sort_values("p_holm", kind="stable")
        return {
            "n_portraits": int(len(self.members)),
            "n_above_chance_holm": self.n_above_chance_holm,
            "max_rate": None if top is None else float(top["rate"]),
            "max_rate_portrait": None if top is None else str(top.name),
            "max_rate_n": None if top is None else [int(top["n_chosen"]), int(top["n_shown"])],
            "max_rate_ci95": (None if top is None else [float(top["ci95_low"]), float(top["ci95_high"])]),
            "chance": self.chance,
            "median_shown": (float(self.members["n_shown"].median()) if len(self.members) else None),
            "above_chance": [
                {
                    "portrait": str(p),
                    "disorder": r["disorder"],
                    "n_chosen": int(r["n_chosen"]),
                    "n_shown": int(r["n_shown"]),
                    "rate": float(r["rate"]),
                    "p_holm": float(r["p_holm"]),
                }
                for p, r in flagged.iterrows()
            ],
            "n_non_members": int(len(self.non_members)),
            "max_non_member_rate": (float(self.non_members["rate"].max()) if len(self.non_members) else None),
            "n_questions_answered": self.n_answered,
            "n_questions_unanswered": self.n_unanswered,
            "n_members_unanswered_only": self.n_members_unanswered_only,
            "alpha": self.alpha,
            "method": METHOD,
            "caveat": CAVEAT,
        }

    def table(self) -> pd.DataFrame:
        """Members and non-members in one tidy table, one row per portrait."""
        members = self.members.reset_index().assign(role="member")
        others = self.non_members.reset_index().assign(role="non_member")
        return pd.concat([members, others], ignore_index=True).reindex(columns=list(TABLE_COLUMNS))


def per_portrait_reidentification(options: pd.DataFrame, alpha: float = 0.05) -> PortraitReidentification:
    """Per training member: was it chosen more often than chance? Holm across members.

    A privacy claim about the average answer can hide a few memorised training
    portraits that every expert finds. For each member portrait this counts the
    answered re-identification questions it was the member of and how often it
    was chosen, and tests that count against chance with an exact one-sided
    binomial; Holm controls the family-wise error across members. For each
    non-member it gives how often it was wrongly chosen (a non-member that
    draws answers looks more like the latent average than the member does).

    Parameters
    ----------
    options : pandas.DataFrame
        From :func:`analysis.options.load_options`; one study. Only
        re-identification rows are used.
    alpha : float
        Family-wise level across member portraits.

    Returns
    -------
    PortraitReidentification
        The per-portrait tables and the summary (``to_dict()``).

    Raises
    ------
    ExportError
        When there are no re-identification questions, or they offer different
        numbers of options (the exact test needs one chance level).

    Notes
    -----
    Only answered questions count: a skipped or timed-out question has no
    chosen option (every ``chosen`` is 0 in the export) and is counted in
    ``n_unanswered`` instead. Chance is 1 / the number of options of a
    re-identification question.

    **Power is low per portrait**: a study shows each member to a handful of
    experts (the paper's design, about 10 answers per portrait or fewer), so
    only a portrait chosen nearly every time can pass Holm; a non-significant
    portrait is not shown safe. **The p-values are not independent of the
    expert clustering**: the same few experts see many portraits, so one sharp
    expert raises the counts of every member they saw, and the binomial per
    portrait treats their answers as independent. Read the per-portrait
    table beside the per-expert one (``privacy.per_expert``); the clustered
    bound on the excess over chance remains the headline.

    R: ``p.adjust(mapply(function(y, n) binom.test(y, n, p,
    alternative = "greater")$p.value, y, n), "holm")`` over members, and
    ``binom.test(y, n)$conf.int`` for the interval of a rate.

    Examples
    --------
    >>> import pandas as pd
    >>> from analysis.options import load_options
    >>> from analysis.portraits import per_portrait_reidentification
    >>> rows = []
    >>> for q in range(10):   # member "m1" shown 10 times, chosen every time
    ...     for slot, (portrait, member) in enumerate([("m1", 1), (f"n{q}a", 0), (f"n{q}b", 0)], 1):
    ...         rows.append(dict(study="s", participant=f"p{q}", session=str(q), position=1,
    ...                          question=f"q{q}", category="reidentification",
    ...                          option="ABC"[slot - 1], slot=slot, portrait=portrait,
    ...                          kind="real", disorder="KS", used_in_training=member,
    ...                          is_correct=member, chosen=member))
    >>> result = per_portrait_reidentification(load_options(pd.DataFrame(rows)))
    >>> s = result.to_dict()
    >>> s["n_portraits"], s["n_above_chance_holm"], s["max_rate"]
    (1, 1, 1.0)
    >>> f"{result.members.loc['m1', 'p_value']:.3g}"   # (1/3)^10
    '1.69e-05'
    """
    _check_probability(alpha, "alpha")
    reid = options[options["category"] == "reidentification"]
    if reid.empty:
        raise ExportError("the options export has no re-identification question", column="category")
    keys = ["study", "session", "position"]
    per_question = reid.groupby(keys, sort=False).agg(n_options=("slot", "size"), n_chosen=("chosen", "sum"))
    counts = per_question["n_options"].unique()
    if len(counts) > 1:
        odd = reid.set_index(keys).index.isin(per_question.index[per_question["n_options"] != counts[0]])
        raise ExportError(
            f"re-identification questions offer different numbers of options "
            f"({', '.join(map(str, sorted(int(c) for c in counts)))}); the exact test per "
            "portrait needs one chance level: analyse them separately",
            column="slot",
            row=int(np.flatnonzero(odd)[0]) + 1,
        )
    chance = 1.0 / int(counts[0])
    answered_q = per_question["n_chosen"] == 1
    answered = reid.set_index(keys).index.isin(per_question.index[answered_q])
    rows = reid.assign(answered=answered)
    shown = rows[rows["answered"]]
    member = shown["used_in_training"] == 1

    members = _rates(shown[member], chance)
    unanswered = rows[~rows["answered"] & (rows["used_in_training"] == 1)].groupby("portrait").size()
    tested = per_expert_vs_chance(
        members[["n_shown", "n_chosen"]].rename(columns={"n_shown": "n", "n_chosen": "y"}), chance, alpha
    )
    members["excess"] = tested["excess"]
    members["p_value"] = tested["p_value"]
    members["p_holm"] = tested["p_holm"]
    members["above_chance"] = tested["above_chance"].astype(bool)
    members["n_unanswered"] = unanswered.reindex(members.index, fill_value=0).astype(np.int64)
    only_unanswered = int((~unanswered.index.isin(members.index)).sum())
    return PortraitReidentification(
        members=members,
        non_members=_rates(shown[~member], chance),
        chance=chance,
        alpha=alpha,
        n_answered=int(answered_q.sum()),
        n_unanswered=int((~answered_q).sum()),
        n_members_unanswered_only=only_unanswered,
    )


def _rates(rows: pd.DataFrame, chance: float) -> pd.DataFrame:
    """Per portrait: answered questions it was in, times chosen, rate, Clopper-Pearson 95%."""
    grouped = rows.groupby("portrait", sort=True)
    out = pd.DataFrame(
        {
            "disorder": grouped["disorder"].first(),
            "n_shown": grouped.size().astype(np.int64),
            "n_chosen": grouped["chosen"].sum().astype(np.int64),
            "n_experts": grouped["participant"].nunique().astype(np.int64),
        }
    )
    out["rate"] = out["n_chosen"] / out["n_shown"]
    out["chance"] = chance
    ci = [proportion_ci(int(y), int(n)) for y, n in zip(out["n_chosen"], out["n_shown"])]
    out["ci95_low"] = [lo for lo, _ in ci]
    out["ci95_high"] = [hi for _, hi in ci]
    return out
