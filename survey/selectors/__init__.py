"""Reads for the participant flow, the admin and exports. Nothing here writes.

What a participant's page or API response is built from comes only from `question_view`, which never
carries a portrait's kind, file name or the correct option.

Callers use the package as one module (`from survey import selectors`; `selectors.question_view(...)`):
this file names what it offers. Its modules, by concern:

- `questions`: the participant's question page: the question view and its time left, a category's
  introduction, how the question before ended;
- `images`: the portrait behind a token, for its participant or its study's staff;
- `outcomes`: outcomes counted: a session's scores, a study's progress, the overdue questions, the
  diagnosis stimuli of exports;
- `bank`: a study's bank for its coordinator: readiness to start a session, and an overview.
"""

from survey.selectors.bank import BankGroup, bank_overview, study_readiness
from survey.selectors.images import (
    ParticipantImage,
    participant_image,
    shown_image_for_participant,
    shown_image_for_staff,
)
from survey.selectors.outcomes import (
    CategoryScore,
    StudyProgress,
    diagnosis_stimuli,
    overdue_questions,
    session_scores,
    study_progress,
)
from survey.selectors.questions import (
    PROMPTS,
    TASKS,
    CategoryIntro,
    OptionView,
    PracticeResult,
    QuestionView,
    category_intro,
    latest_remaining_ms,
    previous_outcome,
    question_view,
    remaining_ms,
    with_kind_total,
)

__all__ = [
    "PROMPTS",
    "TASKS",
    "BankGroup",
    "CategoryIntro",
    "CategoryScore",
    "OptionView",
    "ParticipantImage",
    "PracticeResult",
    "QuestionView",
    "StudyProgress",
    "bank_overview",
    "category_intro",
    "diagnosis_stimuli",
    "latest_remaining_ms",
    "overdue_questions",
    "participant_image",
    "previous_outcome",
    "question_view",
    "remaining_ms",
    "session_scores",
    "shown_image_for_participant",
    "shown_image_for_staff",
    "study_progress",
    "study_readiness",
    "with_kind_total",
]
