"""Fuzz every API operation from its OpenAPI schema (bounded): whatever is sent, no server error; and every
answer to a request the schema allows is one the schema promises: a documented status, its content type,
and a body that validates against its schema (the schema is the contract; survey/api/errors.py documents
the error bodies). Requests outside the schema (negative cases) may miss the URL patterns altogether, and
Django's HTML 404 for an unknown URL is no part of the API: those are only checked for server errors."""

from __future__ import annotations

import pytest
import schemathesis
from django.contrib.auth import get_user_model
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from config.wsgi import application
from survey import services
from tests.survey.factories import InviteFactory

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)

RESPONSE_CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def checks_for(case) -> list:
    return RESPONSE_CHECKS if case.meta is None or case.meta.generation.mode.is_positive else [not_a_server_error]


@pytest.fixture
def credentials(study):
    """A coordinator of the fixture study and a participant on its first question."""
    user = get_user_model().objects.create_user("fuzz", is_staff=True)
    study.coordinators.add(user)
    session = services.session_start(invite=InviteFactory(study=study))
    services.session_profile_submit(session=session, profession="other", years_experience=1)
    services.session_quiz_begin(session=session)
    services.session_current_question(session=session)
    return {
        "coordinator": f"Token {Token.objects.create(user=user).key}",
        "participant": f"Bearer {session.access_token}",
    }


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@schema.parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_its_schema_says(case, credentials):
    who = "participant" if case.path.startswith("/api/participant/") else "coordinator"
    case.call_and_validate(headers={"Authorization": credentials[who]}, checks=checks_for(case))
