"""Draws a session's questions from its study's image bank with the session's seed.

Pure: no database, no clock. The same bank, settings and seed give the same plan, which is how a stored
seed rebuilds a session exactly. The rules of the draw:
- no real or synthetic portrait appears twice in a session (latent averages may, being a disorder's
  reference image rather than a person);
- the real portrait's slot in real_vs_synthetic, the training member's slot in reidentification and the
  correct option's slot in diagnosis are balanced: each run of n_slots questions uses every slot once;
- diagnosis shows real and synthetic portraits in equal numbers (one more of either when odd);
- category order and question order come from the seed; disorders are spread evenly within a category.
"""

from __future__ import annotations

import random
import string
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

CATEGORIES = ("real_vs_synthetic", "reidentification", "diagnosis")

REAL_TRAINING = "real_training"
REAL_HELD_OUT = "real_held_out"
SYNTHETIC = "synthetic"
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

    @property
    def pool(self) -> str:
        if self.kind == "real":
            return REAL_TRAINING if self.used_in_training else REAL_HELD_OUT
        return self.kind


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


def slot_code(slot: int) -> str:
    """Portrait options are coded A, B, C, ... by their place on the page."""
    return string.ascii_uppercase[slot - 1]


def balanced_slots(rng: random.Random, n_questions: int, n_slots: int) -> list[int]:
    """1-based slots in which every consecutive run of n_slots uses each slot once, so counts differ by
    at most one over any session."""
    slots: list[int] = []
    while len(slots) < n_questions:
        block = list(range(1, n_slots + 1))
        rng.shuffle(block)
        slots.extend(block)
    return slots[:n_questions]


@dataclass
class _Pools:
    """Unused portraits by (pool, disorder), each in a seeded random order; drawing pops from the end."""

    by_key: dict[tuple[str, str], list[BankPortrait]] = field(default_factory=dict)
    used_latent_averages: set[int] = field(default_factory=set)

    @classmethod
    def from_bank(cls, bank: Iterable[BankPortrait], rng: random.Random) -> _Pools:
        pools = cls()
        # Sorting by content hash first makes the draw independent of database ids and row order.
        for portrait in sorted(bank, key=lambda p: p.content_hash):
            pools.by_key.setdefault((portrait.pool, portrait.disorder), []).append(portrait)
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


def _needs(category: str, settings: PlanSettings, real_stimulus: bool) -> dict[str, int]:
    if category == "real_vs_synthetic":
        return {REAL_TRAINING: 1, SYNTHETIC: settings.n_synthetic_in_real_vs_synthetic}
    if category == "reidentification":
        return {LATENT_AVERAGE: 1, REAL_TRAINING: 1, REAL_HELD_OUT: settings.n_candidates_in_reidentification - 1}
    return {"real_any": 1} if real_stimulus else {SYNTHETIC: 1}


def _can_supply(pools: _Pools, disorder: str, needs: dict[str, int]) -> bool:
    return all(_have(pools, disorder, pool) >= n for pool, n in needs.items())


def _have(pools: _Pools, disorder: str, pool: str) -> int:
    if pool == "real_any":
        return pools.available(REAL_HELD_OUT, disorder) + pools.available(REAL_TRAINING, disorder)
    return pools.available(pool, disorder)


def _pick_disorder(
    rng: random.Random, pools: _Pools, settings: PlanSettings, needs: dict[str, int], used: Counter[str], what: str
) -> str:
    eligible = [d for d in settings.disorders if _can_supply(pools, d, needs)]
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


def _real_vs_synthetic(rng, pools, settings, disorder, real_slot, practice, position) -> PlannedQuestion:
    real = pools.take(REAL_TRAINING, disorder)[0]
    synthetic = pools.take(SYNTHETIC, disorder, settings.n_synthetic_in_real_vs_synthetic)
    n_slots = len(synthetic) + 1
    others = iter(synthetic)
    portraits = [real if slot == real_slot else next(others) for slot in range(1, n_slots + 1)]
    options = tuple(PlannedOption(slot, slot_code(slot), p.id) for slot, p in enumerate(portraits, start=1))
    return PlannedQuestion(practice, position, "real_vs_synthetic", disorder, "mixed", slot_code(real_slot), (), options)


def _reidentification(rng, pools, settings, disorder, member_slot, practice, position) -> PlannedQuestion:
    average = pools.take_latent_average(disorder, rng)
    member = pools.take(REAL_TRAINING, disorder)[0]
    others = iter(pools.take(REAL_HELD_OUT, disorder, settings.n_candidates_in_reidentification - 1))
    n_slots = settings.n_candidates_in_reidentification
    portraits = [member if slot == member_slot else next(others) for slot in range(1, n_slots + 1)]
    options = tuple(PlannedOption(slot, slot_code(slot), p.id) for slot, p in enumerate(portraits, start=1))
    return PlannedQuestion(
        practice, position, "reidentification", disorder, "latent_average", slot_code(member_slot), (average.id,), options
    )


def _diagnosis(rng, pools, settings, disorder, correct_slot, real_stimulus, practice, position) -> PlannedQuestion:
    if real_stimulus:
        # From whichever real pool of the disorder has more left: both kinds are scarce (training members
        # for the other two categories, held-out portraits for re-identification), so spend the larger.
        held_out, training = pools.available(REAL_HELD_OUT, disorder), pools.available(REAL_TRAINING, disorder)
        pool = REAL_HELD_OUT if held_out >= training else REAL_TRAINING
        portrait = pools.take(pool, disorder)[0]
    else:
        portrait = pools.take(SYNTHETIC, disorder)[0]
    distractors = rng.sample([d for d in settings.disorders if d != disorder], settings.n_options_in_diagnosis - 1)
    others = iter(distractors)
    codes = [disorder if slot == correct_slot else next(others) for slot in range(1, settings.n_options_in_diagnosis + 1)]
    options = tuple(PlannedOption(slot, code, disorder=code) for slot, code in enumerate(codes, start=1))
    kind = "real" if real_stimulus else "synthetic"
    return PlannedQuestion(practice, position, "diagnosis", disorder, kind, disorder, (portrait.id,), options)


def _slots_for(category: str, settings: PlanSettings) -> int:
    return {
        "real_vs_synthetic": settings.n_synthetic_in_real_vs_synthetic + 1,
        "reidentification": settings.n_candidates_in_reidentification,
        "diagnosis": settings.n_options_in_diagnosis,
    }[category]


def _category_questions(
    rng: random.Random, pools: _Pools, settings: PlanSettings, category: str, n: int, practice: bool, first_position: int
) -> list[PlannedQuestion]:
    correct_slots = balanced_slots(rng, n, _slots_for(category, settings))
    real_flags = [i < (n + rng.randint(0, 1)) // 2 for i in range(n)]
    rng.shuffle(real_flags)
    used: Counter[str] = Counter()
    questions = []
    for i in range(n):
        position = first_position + i
        what = f"{'practice' if practice else 'question'} {position} ({category})"
        needs = _needs(category, settings, real_flags[i])
        disorder = _pick_disorder(rng, pools, settings, needs, used, what)
        if category == "real_vs_synthetic":
            questions.append(_real_vs_synthetic(rng, pools, settings, disorder, correct_slots[i], practice, position))
        elif category == "reidentification":
            questions.append(_reidentification(rng, pools, settings, disorder, correct_slots[i], practice, position))
        else:
            questions.append(
                _diagnosis(rng, pools, settings, disorder, correct_slots[i], real_flags[i], practice, position)
            )
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
    """Every question of a session, practice first, in the order they will be asked.

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
    raise first_error


def _draw(bank: Sequence[BankPortrait], settings: PlanSettings, rng: random.Random) -> list[PlannedQuestion]:
    pools = _Pools.from_bank(bank, rng)
    category_order = rng.sample(CATEGORIES, len(CATEGORIES))
    plan: list[PlannedQuestion] = []
    if settings.with_practice:
        for position, category in enumerate(category_order, start=1):
            plan += _category_questions(rng, pools, settings, category, 1, True, position)
    position = 1
    for category in category_order:
        n = settings.counts.get(category, 0)
        plan += _category_questions(rng, pools, settings, category, n, False, position)
        position += n
    return plan
