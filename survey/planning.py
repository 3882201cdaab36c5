"""Draws a session's questions from its study's image bank with the session's seed.

Pure: no database, no clock. The same bank (with its roles, survey/roles.py), settings and seed give the
same plan, which is how a stored seed rebuilds a session exactly. The rules of the draw:
- a portrait is drawn only for the part its role gives it, so nothing seen in another session marks an
  answer; portraits without a role are never drawn;
- no real or synthetic portrait appears twice in a session (latent averages may, being a disorder's
  reference image rather than a person);
- the correct option's slot is spread evenly over a session without any slot being given away by the
  earlier ones (`spread_slots`);
- diagnosis shows real and synthetic portraits in equal numbers (one more of either when odd);
- category order and question order come from the seed; each category opens with its practice question;
  disorders are spread evenly within a category.
"""

from __future__ import annotations

import math
import random
import string
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from survey import roles

CATEGORIES = ("real_vs_synthetic", "reidentification", "diagnosis")

REAL_TRAINING = roles.TRAINING
REAL_HELD_OUT = roles.HELD_OUT
SYNTHETIC = roles.SYNTHETIC
LATENT_AVERAGE = "latent_average"


class PlanError(Exception):
    """The bank cannot supply the questions the study asks for; the message says what is missing."""


@dataclass(frozen=True)
class BankPortrait:
    id: int
    content_hash: str
    kind: str  # "real", "synthetic" or "latent_average"
    disorder: str
    used_in_training: bool | None = None
    role: str = ""  # survey/roles.py; empty: never drawn

    @property
    def pool(self) -> str:
        """The portrait's kind as role assignment sees it."""
        if self.kind == "real":
            return REAL_TRAINING if self.used_in_training else REAL_HELD_OUT
        return self.kind

    @property
    def draw_pool(self) -> str | None:
        """The pool the planner draws it from: its role (practice split by kind), or None if it has none."""
        if self.kind == LATENT_AVERAGE:
            return LATENT_AVERAGE
        if not self.role:
            return None
        # A practice pool holds several kinds (the real portrait and the synthetic ones of one question).
        return f"{self.role}:{self.pool}" if self.role in roles.PRACTICE_ROLES.values() else self.role


@dataclass(frozen=True)
class PlanSettings:
    disorders: tuple[str, ...]  # codes of the study's disorders
    counts: dict[str, int]  # questions per category
    n_synthetic_in_real_vs_synthetic: int = 3
    n_candidates_in_reidentification: int = 3
    n_options_in_diagnosis: int = 4
    with_practice: bool = True


@dataclass(frozen=True)
class PlannedOption:
    slot: int
    code: str
    portrait_id: int | None = None  # None for a disorder option
    disorder: str | None = None  # set for a diagnosis option


@dataclass(frozen=True)
class PlannedQuestion:
    is_practice: bool
    position: int
    category: str
    disorder: str
    stimulus_kind: str
    correct_choice: str
    stimulus_portrait_ids: tuple[int, ...]
    options: tuple[PlannedOption, ...]
    sequence: int = 0  # order of asking, practice included


def slot_code(slot: int) -> str:
    """Portrait options are coded A, B, C, ... by their place on the page."""
    return string.ascii_uppercase[slot - 1]


def slot_count_bounds(n_questions: int, n_slots: int) -> tuple[int, int]:
    """How often each slot may be correct in a session of n_questions: within 2.5 standard deviations of
    independent draws around n/k.

    Tighter balance gives answers away: with every slot used 2 or 3 times in 10 questions (within ±1), an
    expert sure of half the answers strikes out used slots and gains 3 points on the rest; within these
    bounds the gain stays under a quarter of a point (tests/survey/test_slot_giveaway.py computes it).
    """
    mean = n_questions / n_slots
    spread = 2.5 * math.sqrt(n_questions * (1 / n_slots) * (1 - 1 / n_slots))
    return max(0, math.ceil(mean - spread)), min(n_questions, math.floor(mean + spread))


def spread_slots(rng: random.Random, n_questions: int, n_slots: int) -> list[int]:
    """1-based correct slots for a category's questions: independent uniform draws, redrawn until every
    slot's count lies within `slot_count_bounds`. So every sequence within the bounds is equally likely,
    no question's slot follows from the earlier ones, and over many participants each position is equally
    often correct."""
    low, high = slot_count_bounds(n_questions, n_slots)
    while True:
        slots = [rng.randint(1, n_slots) for _ in range(n_questions)]
        counts = Counter(slots)
        if all(low <= counts.get(slot, 0) <= high for slot in range(1, n_slots + 1)):
            return slots


@dataclass
class _Pools:
    """Unused portraits by (draw pool, disorder), each in a seeded random order; drawing pops from the end."""

    by_key: dict[tuple[str, str], list[BankPortrait]] = field(default_factory=dict)
    used_latent_averages: set[int] = field(default_factory=set)

    @classmethod
    def from_bank(cls, bank: Iterable[BankPortrait], rng: random.Random) -> _Pools:
        pools = cls()
        # Sorting by content hash first makes the draw independent of database ids and row order.
        for portrait in sorted(bank, key=lambda p: p.content_hash):
            if portrait.draw_pool is not None:
                pools.by_key.setdefault((portrait.draw_pool, portrait.disorder), []).append(portrait)
        for key in sorted(pools.by_key):
            rng.shuffle(pools.by_key[key])
        return pools

    def available(self, pool: str, disorder: str) -> int:
        return len(self.by_key.get((pool, disorder), ()))

    def take(self, pool: str, disorder: str, n: int = 1) -> list[BankPortrait]:
        items = self.by_key.get((pool, disorder), [])
        if len(items) < n:
            raise PlanError(f"not enough {pool.replace('_', ' ')} portraits of disorder {disorder!r}")
        return [items.pop() for _ in range(n)]

    def take_latent_average(self, disorder: str, rng: random.Random) -> BankPortrait:
        averages = self.by_key.get((LATENT_AVERAGE, disorder), [])
        if not averages:
            raise PlanError(f"no latent average of disorder {disorder!r}")
        fresh = [p for p in averages if p.id not in self.used_latent_averages]
        chosen = rng.choice(fresh or averages)
        self.used_latent_averages.add(chosen.id)
        return chosen


@dataclass(frozen=True)
class _Sources:
    """The draw pools one question takes its portraits from."""

    real: str = ""  # real-vs-synthetic's real portrait, or re-identification's member
    others: str = ""  # the synthetic options, or the non-members
    stimulus: str = ""  # diagnosis


def _pick_disorder(
    rng: random.Random, pools: _Pools, settings: PlanSettings, needs: dict[str, int], used: Counter[str], what: str
) -> str:
    eligible = [d for d in settings.disorders if all(pools.available(pool, d) >= n for pool, n in needs.items())]
    if not eligible:
        wanted = ", ".join(f"{n} {pool.replace('_', ' ')}" for pool, n in needs.items())
        raise PlanError(
            f"the image bank cannot supply {what}: no disorder has {wanted} portrait(s) left unused. "
            "Add portraits to the bank or lower the study's question counts."
        )
    # Spread questions evenly over disorders: the next one is drawn among the least used so far.
    fewest = min(used[d] for d in eligible)
    disorder = rng.choice([d for d in eligible if used[d] == fewest])
    used[disorder] += 1
    return disorder


def _portrait_options(portraits: Sequence[BankPortrait]) -> tuple[PlannedOption, ...]:
    return tuple(PlannedOption(slot, slot_code(slot), p.id) for slot, p in enumerate(portraits, start=1))


def _with_answer_at(answer: BankPortrait, others: Sequence[BankPortrait], slot: int) -> list[BankPortrait]:
    rest = iter(others)
    return [answer if s == slot else next(rest) for s in range(1, len(others) + 2)]


def _real_vs_synthetic(rng, pools, settings, sources, disorder, real_slot, practice, position) -> PlannedQuestion:
    real = pools.take(sources.real, disorder)[0]
    synthetic = pools.take(sources.others, disorder, settings.n_synthetic_in_real_vs_synthetic)
    options = _portrait_options(_with_answer_at(real, synthetic, real_slot))
    return PlannedQuestion(
        practice, position, "real_vs_synthetic", disorder, "mixed", slot_code(real_slot), (), options
    )


def _reidentification(rng, pools, settings, sources, disorder, member_slot, practice, position) -> PlannedQuestion:
    average = pools.take_latent_average(disorder, rng)
    member = pools.take(sources.real, disorder)[0]
    others = pools.take(sources.others, disorder, settings.n_candidates_in_reidentification - 1)
    options = _portrait_options(_with_answer_at(member, others, member_slot))
    return PlannedQuestion(
        practice,
        position,
        "reidentification",
        disorder,
        "latent_average",
        slot_code(member_slot),
        (average.id,),
        options,
    )


def _diagnosis(rng, pools, settings, sources, disorder, correct_slot, practice, position) -> PlannedQuestion:
    portrait = pools.take(sources.stimulus, disorder)[0]
    distractors = rng.sample([d for d in settings.disorders if d != disorder], settings.n_options_in_diagnosis - 1)
    others = iter(distractors)
    codes = [
        disorder if slot == correct_slot else next(others) for slot in range(1, settings.n_options_in_diagnosis + 1)
    ]
    options = tuple(PlannedOption(slot, code, disorder=code) for slot, code in enumerate(codes, start=1))
    kind = "real" if portrait.kind == "real" else "synthetic"
    return PlannedQuestion(practice, position, "diagnosis", disorder, kind, disorder, (portrait.id,), options)


@dataclass(frozen=True)
class _Category:
    """What the draw does differently for one category, in one place: where its portraits come from (timed
    and practice), how many of each one question needs, how many answer slots it has, and how it builds the
    question from them."""

    sources: Callable[[bool], _Sources]  # real_stimulus -> the timed question's pools
    practice_sources: Callable[[str], _Sources]  # "practice role:" prefix -> the practice question's pools
    needs: Callable[[PlanSettings, _Sources], dict[str, int]]  # portraits per pool for one question
    slots: Callable[[PlanSettings], int]
    build: Callable[..., PlannedQuestion]


_CATEGORY = {
    "real_vs_synthetic": _Category(
        sources=lambda real_stimulus: _Sources(
            real=roles.REAL_VS_SYNTHETIC_REAL, others=roles.REAL_VS_SYNTHETIC_SYNTHETIC
        ),
        practice_sources=lambda prefix: _Sources(real=prefix + REAL_TRAINING, others=prefix + SYNTHETIC),
        needs=lambda settings, sources: {sources.real: 1, sources.others: settings.n_synthetic_in_real_vs_synthetic},
        slots=lambda settings: settings.n_synthetic_in_real_vs_synthetic + 1,
        build=_real_vs_synthetic,
    ),
    "reidentification": _Category(
        sources=lambda real_stimulus: _Sources(
            real=roles.REIDENTIFICATION_MEMBER, others=roles.REIDENTIFICATION_NON_MEMBER
        ),
        practice_sources=lambda prefix: _Sources(real=prefix + REAL_TRAINING, others=prefix + REAL_HELD_OUT),
        needs=lambda settings, sources: {
            LATENT_AVERAGE: 1,
            sources.real: 1,
            sources.others: settings.n_candidates_in_reidentification - 1,
        },
        slots=lambda settings: settings.n_candidates_in_reidentification,
        build=_reidentification,
    ),
    "diagnosis": _Category(
        # Half the timed stimuli are real, half synthetic (real_stimulus); practice shows a synthetic one.
        sources=lambda real_stimulus: _Sources(
            stimulus=roles.DIAGNOSIS_REAL if real_stimulus else roles.DIAGNOSIS_SYNTHETIC
        ),
        practice_sources=lambda prefix: _Sources(stimulus=prefix + SYNTHETIC),
        needs=lambda settings, sources: {sources.stimulus: 1},
        slots=lambda settings: settings.n_options_in_diagnosis,
        build=_diagnosis,
    ),
}
assert tuple(_CATEGORY) == CATEGORIES


def _category_questions(
    rng: random.Random,
    pools: _Pools,
    settings: PlanSettings,
    category: str,
    n: int,
    practice: bool,
    first_position: int,
) -> list[PlannedQuestion]:
    spec = _CATEGORY[category]
    correct_slots = spread_slots(rng, n, spec.slots(settings))
    real_flags = [i < (n + rng.randint(0, 1)) // 2 for i in range(n)]
    rng.shuffle(real_flags)
    used: Counter[str] = Counter()
    questions = []
    for i in range(n):
        position = first_position + i
        what = f"{'practice' if practice else 'question'} {position} ({category})"
        if practice:
            sources = spec.practice_sources(roles.PRACTICE_ROLES[category] + ":")
        else:
            sources = spec.sources(real_flags[i])
        disorder = _pick_disorder(rng, pools, settings, spec.needs(settings, sources), used, what)
        questions.append(spec.build(rng, pools, settings, sources, disorder, correct_slots[i], practice, position))
    return questions


def validate_settings(settings: PlanSettings) -> None:
    if settings.n_options_in_diagnosis > len(settings.disorders) and settings.counts.get("diagnosis", 0):
        raise PlanError(
            f"diagnosis questions offer {settings.n_options_in_diagnosis} disorders but the study has only "
            f"{len(settings.disorders)}: add disorders or offer fewer options."
        )
    unknown = set(settings.counts) - set(CATEGORIES)
    if unknown:
        raise PlanError(f"unknown categories: {sorted(unknown)}")


# A draw is greedy, so a bank with little to spare can run dry in one draw and suffice in another.
MAX_DRAWS = 20


def plan_session(bank: Sequence[BankPortrait], settings: PlanSettings, seed: int) -> list[PlannedQuestion]:
    """Every question of a session, in the order they will be asked: each category's practice question,
    then its timed questions.

    If a draw runs out of portraits, the draw is repeated with the next stream derived from the same seed,
    so the plan stays a function of the seed; after MAX_DRAWS the first draw's error is raised.
    """
    validate_settings(settings)
    first_error: PlanError | None = None
    for draw in range(MAX_DRAWS):
        try:
            return _draw(bank, settings, random.Random(seed if draw == 0 else f"{seed}/{draw}"))
        except PlanError as error:
            first_error = first_error or error
    assert first_error is not None  # MAX_DRAWS >= 1 draws were tried and each raised
    raise first_error


def _draw(bank: Sequence[BankPortrait], settings: PlanSettings, rng: random.Random) -> list[PlannedQuestion]:
    pools = _Pools.from_bank(bank, rng)
    category_order = rng.sample(CATEGORIES, len(CATEGORIES))
    plan: list[PlannedQuestion] = []
    position = 1
    practice_position = 1
    for category in category_order:
        n = settings.counts.get(category, 0)
        if n == 0:
            continue
        if settings.with_practice:
            plan += _category_questions(rng, pools, settings, category, 1, True, practice_position)
            practice_position += 1
        plan += _category_questions(rng, pools, settings, category, n, False, position)
        position += n
    return [replace(question, sequence=sequence) for sequence, question in enumerate(plan, start=1)]
