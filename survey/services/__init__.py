"""The rules of a quiz session, written once: the HTML flow and the API both call these.

Every write that depends on a session's state locks the session's row first, so two requests of one
participant (a double click, a retry, two tabs) are serialised; the one-answer rule is also a database
constraint, so it holds even where the lock is a no-op (SQLite serialises writers by itself).

Callers use the package as one module (`from survey import services`; `services.answer_submit(...)`): this
file names what it offers. Its modules, by concern:

- `sessions`: the study's bank frozen and a session's questions drawn; a session's start on an invite,
  its resume in another browser, the profile and the quiz begun;
- `questions`: a question served, its clock started, answered or skipped, expired, and the timeouts of
  abandoned sessions recorded;
- `portraits`: a portrait delivered to its participant;
- `coordinator`: the coordinator's writes (invites, ending a session, erasing a participant);
- `errors`: the refusals, `QuizError` and its kinds;
- `_common`: what the others share: the time a step runs at, the session's row lock and the step's
  transaction.
"""

from survey.services._common import lock_in_request
from survey.services.coordinator import invite_revoke, invites_issue, participant_erase, session_end
from survey.services.errors import (
    AlreadyAnswered,
    AlreadyTookPart,
    IdentifierNeeded,
    InviteInUse,
    InvitesRefused,
    InviteUnusable,
    NotExpired,
    QuestionNotCurrent,
    QuizError,
    SessionEnded,
    StudyClosed,
    StudyNotReady,
    TooEarly,
    UnknownOption,
    WrongResumeCode,
    WrongStage,
)
from survey.services.portraits import portrait_delivered
from survey.services.questions import (
    MAX_CHOICE_LENGTH,
    answer_submit,
    question_clock_start,
    question_expire,
    question_serve,
    session_current_question,
    study_expire_overdue,
)
from survey.services.sessions import (
    invite_check,
    invite_session,
    participant_key,
    resume_code_issue,
    session_of_holder,
    session_plan_rebuild,
    session_profile_submit,
    session_quiz_begin,
    session_resume,
    session_start,
    study_bank_freeze,
)

__all__ = [
    "MAX_CHOICE_LENGTH",
    "AlreadyAnswered",
    "AlreadyTookPart",
    "IdentifierNeeded",
    "InviteInUse",
    "InviteUnusable",
    "InvitesRefused",
    "NotExpired",
    "QuestionNotCurrent",
    "QuizError",
    "SessionEnded",
    "StudyClosed",
    "StudyNotReady",
    "TooEarly",
    "UnknownOption",
    "WrongResumeCode",
    "WrongStage",
    "answer_submit",
    "invite_check",
    "invite_revoke",
    "invite_session",
    "invites_issue",
    "lock_in_request",
    "participant_erase",
    "participant_key",
    "portrait_delivered",
    "question_clock_start",
    "question_expire",
    "question_serve",
    "resume_code_issue",
    "session_current_question",
    "session_end",
    "session_of_holder",
    "session_plan_rebuild",
    "session_profile_submit",
    "session_quiz_begin",
    "session_resume",
    "session_start",
    "study_bank_freeze",
    "study_expire_overdue",
]
