"""The one part each portrait of a study's bank plays, drawn once when the bank is frozen for sessions.

Pure: no database. Why roles: the bank is shared by every session, so if one real portrait could be a
re-identification candidate in one session and the real option of a real-vs-synthetic question in
another, two colleagues comparing notes (or one expert retaking the study) would learn answers outside
the face itself. With roles, a portrait shows up only ever in one part of the quiz, so seeing it elsewhere
tells nothing about the answer:
- real-vs-synthetic: the real portrait comes from `real_vs_synthetic_real` (training set), the others from
  `real_vs_synthetic_synthetic`;
- re-identification: the member from `reidentification_member` (training set), the others from
  `reidentification_non_member` (held out);
- diagnosis: the stimulus from `diagnosis_real` or `diagnosis_synthetic`;
- each category's practice question (whose answer the expert is told) only from that category's
  `practice_<category>` pool.
Quotas keep the pools of one question in the proportions a question uses them (e.g. three synthetic
portraits per real one), so each portrait of a category is shown equally often in expectation and how
often a face recurs across sessions says nothing about its kind either.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

REAL_VS_SYNTHETIC_REAL = "real_vs_synthetic_real"
REAL_VS_SYNTHETIC_SYNTHETIC = "real_vs_synthetic_synthetic"
REIDENTIFICATION_MEMBER = "reidentification_member"
REIDENTIFICATION_NON_MEMBER = "reidentification_non_member"
DIAGNOSIS_REAL = "diagnosis_real"
DIAGNOSIS_SYNTHETIC = "diagnosis_synthetic"
PRACTICE_ROLES = {
    category: f"practice_{category}" for category in ("real_vs_synthetic", "reidentification", "diagnosis")
}
REFERENCE = "reference"  # latent averages: a disorder's reference image, shared by every question of it

TIMED_ROLES = (
    REAL_VS_SYNTHETIC_REAL,
    REAL_VS_SYNTHETIC_SYNTHETIC,
    REIDENTIFICATION_MEMBER,
    REIDENTIFICATION_NON_MEMBER,
    DIAGNOSIS_REAL,
    DIAGNOSIS_SYNTHETIC,
)

# The kinds of portrait a role may hold, as planning.BankPortrait.pool names them.
TRAINING, HELD_OUT, SYNTHETIC = "real_training", "real_held_out", "synthetic"
_WORDS = {
    TRAINING: "real portraits used in training",
    HELD_OUT: "real portraits held out of training",
    SYNTHETIC: "synthetic portraits",
}


class RoleError(Exception):
    """The bank cannot fill the roles a study needs; the message names the missing portraits."""


@dataclass(frozen=True)
class RoleSettings:
    disorders: tuple[str, ...]
    counts: dict[str, int]  # timed questions per category
    n_synthetic_in_real_vs_synthetic: int = 3
    n_candidates_in_reidentification: int = 3
    with_practice: bool = True
    expected_sessions: int = 60


@dataclass(frozen=True)
class Candidate:
    """What role assignment needs to know of a bank portrait."""

    id: int
    content_hash: str
    pool: str  # real_training, real_held_out, synthetic or latent_average
    disorder: str


@dataclass(frozen=True)
class RoleAssignment:
    roles: dict[int, str]  # portrait id -> role; portraits left out are never shown
    units: int  # how many sessions' worth of each disorder's demand every role pool holds
    quotas: dict[str, dict[str, int]]  # role -> disorder -> portraits holding it


def unit_demand(settings: RoleSettings) -> dict[str, int]:
    """Portraits per disorder each role needs for one session at most, with questions spread evenly over
    the disorders (planning.py spreads them so)."""
    n_disorders = max(1, len(settings.disorders))

    def per_disorder(n: int) -> int:
        return math.ceil(n / n_disorders) if n else 0

    rvs = per_disorder(settings.counts.get("real_vs_synthetic", 0))
    reid = per_disorder(settings.counts.get("reidentification", 0))
    n_diagnosis = settings.counts.get("diagnosis", 0)
    return {
        REAL_VS_SYNTHETIC_REAL: rvs,
        REAL_VS_SYNTHETIC_SYNTHETIC: rvs * settings.n_synthetic_in_real_vs_synthetic,
        REIDENTIFICATION_MEMBER: reid,
        REIDENTIFICATION_NON_MEMBER: reid * (settings.n_candidates_in_reidentification - 1),
        # Half the diagnosis stimuli are real (one more of either when odd).
        DIAGNOSIS_REAL: per_disorder(math.ceil(n_diagnosis / 2)),
        DIAGNOSIS_SYNTHETIC: per_disorder(math.ceil(n_diagnosis / 2)),
    }


def practice_demand(settings: RoleSettings) -> list[tuple[str, dict[str, int]]]:
    """The practice questions' portraits, each question from one disorder: (category, kinds needed)."""
    if not settings.with_practice:
        return []
    needs = []
    if settings.counts.get("real_vs_synthetic", 0):
        needs.append(("real_vs_synthetic", {TRAINING: 1, SYNTHETIC: settings.n_synthetic_in_real_vs_synthetic}))
    if settings.counts.get("reidentification", 0):
        needs.append(("reidentification", {TRAINING: 1, HELD_OUT: settings.n_candidates_in_reidentification - 1}))
    if settings.counts.get("diagnosis", 0):
        needs.append(("diagnosis", {SYNTHETIC: 1}))
    return needs


@dataclass
class _Stock:
    """One disorder's portraits by kind, in a seeded order."""

    by_pool: dict[str, list[Candidate]] = field(default_factory=dict)

    def count(self, pool: str) -> int:
        return len(self.by_pool.get(pool, ()))


def _shortfalls(stock: _Stock, demand: dict[str, int], units: int, practice: dict[str, int]) -> dict[str, int]:
    """How many portraits of each kind this disorder lacks for `units` of demand plus its practice share."""
    training = units * (demand[REAL_VS_SYNTHETIC_REAL] + demand[REIDENTIFICATION_MEMBER]) + practice.get(TRAINING, 0)
    held_out = units * demand[REIDENTIFICATION_NON_MEMBER] + practice.get(HELD_OUT, 0)
    diagnosis_real = units * demand[DIAGNOSIS_REAL]
    synthetic = units * (demand[REAL_VS_SYNTHETIC_SYNTHETIC] + demand[DIAGNOSIS_SYNTHETIC]) + practice.get(SYNTHETIC, 0)
    missing = {
        TRAINING: max(0, training - stock.count(TRAINING)),
        HELD_OUT: max(0, held_out - stock.count(HELD_OUT)),
        SYNTHETIC: max(0, synthetic - stock.count(SYNTHETIC)),
    }
    # Diagnosis may show a real portrait of either kind: it takes what the other roles leave.
    spare_real = max(0, stock.count(TRAINING) - training) + max(0, stock.count(HELD_OUT) - held_out)
    if diagnosis_real > spare_real:
        missing["real"] = diagnosis_real - spare_real
    return {pool: n for pool, n in missing.items() if n}


@dataclass(frozen=True)
class _PracticeShare:
    category: str
    disorder: str
    needs: dict[str, int]


def _choose_practice(
    stocks: dict[str, _Stock], demand: dict[str, int], units: int, settings: RoleSettings, rng: random.Random
) -> list[_PracticeShare] | None:
    """Which disorder supplies each practice question, so that every disorder still meets `units`."""
    totals: dict[str, dict[str, int]] = {d: {} for d in stocks}
    shares = []
    order = sorted(stocks)
    rng.shuffle(order)
    for category, needs in practice_demand(settings):
        for disorder in order:
            trial = {
                pool: totals[disorder].get(pool, 0) + needs.get(pool, 0) for pool in (TRAINING, HELD_OUT, SYNTHETIC)
            }
            if not _shortfalls(stocks[disorder], demand, units, trial):
                totals[disorder] = trial
                shares.append(_PracticeShare(category, disorder, needs))
                break
        else:
            return None
    return shares


def _describe(stocks: dict[str, _Stock], demand: dict[str, int], settings: RoleSettings) -> str:
    lines = []
    for disorder in sorted(stocks):
        for pool, n in _shortfalls(stocks[disorder], demand, 1, {}).items():
            what = "real portraits (either kind)" if pool == "real" else _WORDS[pool]
            lines.append(f"{disorder}: {n} more {what}")
    if not lines and practice_demand(settings):
        lines.append(
            "the practice questions: no disorder has portraits to spare for them "
            f"({'; '.join(f'{c}: ' + ', '.join(f'{n} {_WORDS[p]}' for p, n in needs.items()) for c, needs in practice_demand(settings))})"
        )
    return "; ".join(lines)


def assign_roles(bank: Iterable[Candidate], settings: RoleSettings, *, seed: int) -> RoleAssignment:
    """Every portrait's role, from the study's seed: the most sessions' worth of every role pool (up to
    the expected number of sessions) that the bank can fill, with the practice portraits set apart first.

    Raises RoleError naming, per disorder, the portraits a single session would still need.
    """
    rng = random.Random(f"roles/{seed}")
    demand = unit_demand(settings)
    stocks: dict[str, _Stock] = {d: _Stock() for d in settings.disorders}
    averages: dict[str, list[Candidate]] = {}
    # Sorting by content hash first makes the draw independent of database ids and row order.
    for portrait in sorted(bank, key=lambda p: p.content_hash):
        if portrait.disorder not in stocks:
            continue
        if portrait.pool == "latent_average":
            averages.setdefault(portrait.disorder, []).append(portrait)
        else:
            stocks[portrait.disorder].by_pool.setdefault(portrait.pool, []).append(portrait)
    for disorder in sorted(stocks):
        for pool in sorted(stocks[disorder].by_pool):
            rng.shuffle(stocks[disorder].by_pool[pool])
    if settings.counts.get("reidentification", 0):
        missing = [d for d in sorted(stocks) if d not in averages]
        if missing:
            raise RoleError(f"no latent average of {', '.join(missing)}: re-identification shows one")
    for units in range(settings.expected_sessions, 0, -1):
        if any(_shortfalls(stocks[d], demand, units, {}) for d in stocks):
            continue
        shares = _choose_practice(stocks, demand, units, settings, rng)
        if shares is not None:
            return _fill(stocks, averages, demand, units, shares)
    raise RoleError(f"the image bank cannot fill one session's roles. Missing: {_describe(stocks, demand, settings)}")


def _fill(
    stocks: dict[str, _Stock],
    averages: dict[str, list[Candidate]],
    demand: dict[str, int],
    units: int,
    shares: list[_PracticeShare],
) -> RoleAssignment:
    roles: dict[int, str] = {}
    quotas: dict[str, dict[str, int]] = {}

    def give(role: str, disorder: str, portraits: Sequence[Candidate]) -> None:
        for portrait in portraits:
            roles[portrait.id] = role
        if portraits:
            quotas.setdefault(role, {})[disorder] = quotas.get(role, {}).get(disorder, 0) + len(portraits)

    for disorder, stock in sorted(stocks.items()):
        left = {pool: list(items) for pool, items in stock.by_pool.items()}

        def take(pool: str, n: int, left: dict[str, list[Candidate]] = left) -> list[Candidate]:
            items = left.setdefault(pool, [])
            taken, left[pool] = items[:n], items[n:]
            return taken

        for share in (s for s in shares if s.disorder == disorder):
            give(
                PRACTICE_ROLES[share.category],
                disorder,
                [p for pool, n in sorted(share.needs.items()) for p in take(pool, n)],
            )
        give(REAL_VS_SYNTHETIC_REAL, disorder, take(TRAINING, units * demand[REAL_VS_SYNTHETIC_REAL]))
        give(REIDENTIFICATION_MEMBER, disorder, take(TRAINING, units * demand[REIDENTIFICATION_MEMBER]))
        give(REIDENTIFICATION_NON_MEMBER, disorder, take(HELD_OUT, units * demand[REIDENTIFICATION_NON_MEMBER]))
        give(REAL_VS_SYNTHETIC_SYNTHETIC, disorder, take(SYNTHETIC, units * demand[REAL_VS_SYNTHETIC_SYNTHETIC]))
        give(DIAGNOSIS_SYNTHETIC, disorder, take(SYNTHETIC, units * demand[DIAGNOSIS_SYNTHETIC]))
        # Diagnosis's real stimuli from the larger real remainder first: both kinds are scarce.
        wanted = units * demand[DIAGNOSIS_REAL]
        first, second = sorted((HELD_OUT, TRAINING), key=lambda pool: -len(left.get(pool, [])))
        from_first = take(first, wanted)
        give(DIAGNOSIS_REAL, disorder, from_first + take(second, wanted - len(from_first)))
        give(REFERENCE, disorder, averages.get(disorder, []))
    return RoleAssignment(roles=roles, units=units, quotas=quotas)
