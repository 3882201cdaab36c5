"""The participant API's response serializers bind their fields once per class (survey/api/participant.py,
`ResponseBody`): each response still carries its own values, exactly as DRF's freshly bound fields give them."""

from __future__ import annotations

from django.utils.functional import cached_property
from rest_framework import serializers

from survey import selectors, services
from survey.api.participant import QuestionOut, ResponseBody, ShownQuestion


class FreshQuestionOut(QuestionOut):
    fields = cached_property(serializers.Serializer.fields.func)  # DRF's own: bound anew for every instance


def test_each_question_gets_its_own_body_as_drf_would_build_it(quiz_session):
    bodies = []
    for _ in range(3):
        question = services.session_current_question(session=quiz_session)
        shown = ShownQuestion(selectors.question_view(question), selectors.category_intro(question, being_served=True))
        bodies.append((QuestionOut(shown).data, FreshQuestionOut(shown).data))
        services.answer_submit(
            session=quiz_session, question_id=question.pk, choice=question.options.order_by("slot").first().code
        )
    assert all(shared == fresh for shared, fresh in bodies), bodies
    assert len({body["id"] for body, _ in bodies}) == 3
    assert bodies[0][0]["intro"] is not None and bodies[1][0]["intro"] is None  # nested bodies follow too


def test_the_bound_fields_belong_to_a_serializer_that_holds_no_response(quiz_session):
    question = services.session_current_question(session=quiz_session)
    assert QuestionOut(ShownQuestion(selectors.question_view(question), None)).data["id"] == question.pk
    fields = QuestionOut().fields
    assert issubclass(QuestionOut, ResponseBody) and fields is QuestionOut().fields
    assert fields["id"].parent.instance is None
