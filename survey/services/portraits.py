"""A portrait delivered to its participant: each delivery stamped once, and the question's once all of
its portraits have gone (the clock starts at the latest a transfer allowance later: survey/clock.py)."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Exists, OuterRef, QuerySet
from django.db.models.functions import Now
from django.utils import timezone

from survey import timebase
from survey.models import Question, ShownImage
from survey.prepared import PreparedUpdate


def _image_delivered(shown_id: int, at: datetime) -> tuple[QuerySet[ShownImage], dict]:
    return ShownImage.objects.filter(pk=shown_id, delivered_at__isnull=True), {"delivered_at": at}


def _image_delivered_now(shown_id: int) -> tuple[QuerySet[ShownImage], dict]:
    return ShownImage.objects.filter(pk=shown_id, delivered_at__isnull=True), {"delivered_at": Now()}


def _question_all_delivered(question_id: int) -> QuerySet[Question]:
    """The question, if none of its portraits is left undelivered and that is not yet recorded."""
    undelivered = ShownImage.objects.filter(question_id=OuterRef("pk"), delivered_at__isnull=True)
    return Question.objects.filter(pk=question_id, portraits_delivered_at__isnull=True).exclude(Exists(undelivered))


def _question_delivered(question_id: int, at: datetime) -> tuple[QuerySet[Question], dict]:
    return _question_all_delivered(question_id), {"portraits_delivered_at": at}


def _question_delivered_now(question_id: int) -> tuple[QuerySet[Question], dict]:
    return _question_all_delivered(question_id), {"portraits_delivered_at": Now()}


# Every portrait request writes these: compiled once, stamped by the database's clock or by a given time.
_IMAGE_DELIVERED = PreparedUpdate(_image_delivered)
_IMAGE_DELIVERED_NOW = PreparedUpdate(_image_delivered_now)
_QUESTION_DELIVERED = PreparedUpdate(_question_delivered)
_QUESTION_DELIVERED_NOW = PreparedUpdate(_question_delivered_now)


def portrait_delivered(*, shown: ShownImage, now: datetime | None = None) -> None:
    """The server has sent a portrait to its participant. Once every portrait of the question has gone,
    the question's clock starts at the latest a transfer allowance later (survey/clock.py). Stamped by
    the one clock, written by the database itself on PostgreSQL (`Now()`: survey/timebase.py)."""
    if shown.delivered_at is not None:
        return
    if now is None and timebase.uses_database_clock():
        if _IMAGE_DELIVERED_NOW.run(shown.pk):
            _QUESTION_DELIVERED_NOW.run(shown.question_id)
        return
    at = now if now is not None else timezone.now()
    if _IMAGE_DELIVERED.run(shown.pk, at):
        _QUESTION_DELIVERED.run(shown.question_id, at)
