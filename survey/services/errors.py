"""The refusals of the quiz's rules: `QuizError` and its kinds, each with a message safe to show to the
participant (the API answers each with its own code: survey/api/errors.py)."""

from __future__ import annotations

from survey.models import Answer


class QuizError(Exception):
    """A request the rules refuse. The message is safe to show to the participant."""


class InviteUnusable(QuizError):
    pass


class StudyClosed(QuizError):
    pass


class WrongStage(QuizError):
    pass


class StudyNotReady(QuizError):
    """The study's bank cannot supply a session; `detail` says what is missing, for the coordinator."""

    def __init__(self, detail: str):
        super().__init__("This study is not ready yet. Please tell the study's coordinator.")
        self.detail = detail


class QuestionNotCurrent(QuizError):
    pass


class UnknownOption(QuizError):
    pass


class AlreadyAnswered(QuizError):
    """A second submission for a question: carries the first, which stands."""

    def __init__(self, answer: Answer):
        super().__init__("This question was already answered; the first answer stands.")
        self.answer = answer


class TooEarly(QuizError):
    """An answer before the question armed: a click meant for the question before it. Nothing is stored."""

    def __init__(self, arming_delay_ms: int):
        super().__init__(
            f"The question was not yet accepting answers (it arms {arming_delay_ms} ms after it is shown)."
        )
        self.arming_delay_ms = arming_delay_ms


class InviteInUse(QuizError):
    """A single-use link whose session runs in another browser: it is not handed over without its resume code."""

    def __init__(self):
        super().__init__(
            "This invitation is already in use in another browser. To continue there, enter the resume code "
            "shown when you started, or ask the study's coordinator for a new link."
        )


class WrongResumeCode(QuizError):
    pass


class AlreadyTookPart(QuizError):
    pass


class IdentifierNeeded(QuizError):
    pass


class SessionEnded(QuizError):
    pass


class InvitesRefused(QuizError):
    """No invites for a study that cannot start a session; `problems` says what is missing."""

    def __init__(self, problems: list[str]):
        super().__init__("This study is not ready for invites: " + " ".join(problems))
        self.problems = problems


class NotExpired(QuizError):
    def __init__(self, remaining_ms: int):
        super().__init__(f"The time for this question has not run out ({remaining_ms} ms left).")
        self.remaining_ms = remaining_ms
