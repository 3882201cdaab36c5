"""Who may see what, for every door into the survey (HTML pages, the API, the admin, the staff pages).

- A participant is whoever holds their session's access token: in the browser's session cookie, or as an
  API client's `Authorization: Bearer <token>`.
- A coordinator (staff) sees the studies that list them; a superuser sees every study.

Neutral ground: the HTML views and the API both import this, and neither imports the other.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from survey import timebase
from survey.models import QuizSession, Study

PARTICIPANT_KEYWORD = "Bearer"


def bearer_token(authorization: str) -> str | None:
    """The access token in an `Authorization: Bearer <token>` header; None for any other header."""
    parts = authorization.split()
    if len(parts) != 2 or parts[0] != PARTICIPANT_KEYWORD:
        return None
    return parts[1]


def session_with_token(token: str) -> QuizSession | None:
    """The session whose access token this is (with its study, and the clock's time: survey/timebase.py),
    if any."""
    return timebase.with_clock(QuizSession.objects.select_related("study")).filter(access_token=token).first()


def studies_for(user) -> QuerySet[Study]:
    """Superusers coordinate every study; other staff, the studies that list them."""
    if user.is_superuser:
        return Study.objects.all()
    return Study.objects.filter(coordinators=user)


def coordinated_study(user, slug: str) -> Study:
    """The study, if this user may manage it; 404 otherwise (so others' studies are not revealed)."""
    study = studies_for(user).filter(slug=slug).first()
    if study is None:
        raise Http404("No such study among yours.")
    return study
