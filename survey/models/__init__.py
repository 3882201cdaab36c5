"""The survey's data: studies and their image bank, invites, participants' sessions, questions and answers.

Rules live in services/; models hold data, constraints that make a rule impossible to break in the
database (one answer per question, no portrait twice per session), and nothing else.

One module per concern, each model importable from here (`from survey.models import Study`):
choices.py (the choice lists), defaults.py (the fields' random defaults), study.py (studies and
disorders), portraits.py (the image bank), sessions.py (invites, sessions, questions, shown images,
options, answers) and jobs.py (background jobs).
"""

from survey.models.choices import Category, Outcome, PortraitKind, PortraitRole, Profession, StimulusKind
from survey.models.defaults import new_pseudonym, new_session_seed, new_study_secret, new_url_token
from survey.models.jobs import Job
from survey.models.portraits import Portrait
from survey.models.sessions import Answer, Invite, Option, Question, QuizSession, ShownImage
from survey.models.study import Disorder, Study

__all__ = [
    "Answer",
    "Category",
    "Disorder",
    "Invite",
    "Job",
    "Option",
    "Outcome",
    "Portrait",
    "PortraitKind",
    "PortraitRole",
    "Profession",
    "Question",
    "QuizSession",
    "ShownImage",
    "StimulusKind",
    "Study",
    "new_pseudonym",
    "new_session_seed",
    "new_study_secret",
    "new_url_token",
]
