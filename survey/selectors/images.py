"""The portrait behind a token: for its participant (once the question is served) or for the staff of
its study."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from survey.models import QuizSession, ShownImage
from survey.prepared import PreparedSelect


@dataclass(frozen=True)
class ParticipantImage:
    """What delivering a portrait to its participant needs, from one query and no model rows."""

    shown: ShownImage  # only its id, question and delivery time (for services.portrait_delivered)
    content_hash: str
    study_id: int
    study_pad_bytes: int | None


def _participant_image(token: str, access_token: str) -> QuerySet:
    return (
        ShownImage.objects.filter(token=token, session__access_token=access_token, question__served_at__isnull=False)
        .order_by()  # the token is unique: no ordering (the model's would join more tables)
        .values_list(
            "pk",
            "question_id",
            "delivered_at",
            "portrait__content_hash",
            "session__study_id",
            "session__study__image_pad_bytes",
        )[:1]
    )


_PARTICIPANT_IMAGE = PreparedSelect(_participant_image)  # the commonest request a participant makes


def participant_image(token: str, access_token: str) -> ParticipantImage | None:
    """The image behind a token, if the session holding `access_token` has been shown (or is being shown)
    its question: one query, the session matched by its token in the same join (the per-portrait request
    is the commonest a participant makes)."""
    rows = _PARTICIPANT_IMAGE.run(token, access_token)
    if not rows:
        return None
    pk, question_id, delivered_at, content_hash, study_id, pad_bytes = rows[0]
    return ParticipantImage(
        ShownImage(pk=pk, question_id=question_id, delivered_at=delivered_at), content_hash, study_id, pad_bytes
    )


def shown_image_for_participant(token: str, session: QuizSession) -> ShownImage | None:
    """The image behind a token, if this session has been shown (or is being shown) its question."""
    return (
        ShownImage.objects.select_related("portrait")
        .filter(token=token, session=session, question__served_at__isnull=False)
        .first()
    )


def shown_image_for_staff(token: str, *, studies) -> ShownImage | None:
    """The image behind a token, if it belongs to one of `studies` (those the staff member coordinates)."""
    return ShownImage.objects.select_related("portrait").filter(token=token, session__study__in=studies).first()
