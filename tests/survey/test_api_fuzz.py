"""Fuzz every API operation from its OpenAPI schema (bounded): whatever is sent, no server error."""

from __future__ import annotations

import pytest
import schemathesis
from django.contrib.auth import get_user_model
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token

from config.wsgi import application
from survey import services
from tests.survey.factories import InviteFactory

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)


@pytest.fixture
def credentials(study):
    """A coordinator of the fixture study and a participant on its first question."""
    user = get_user_model().objects.create_user("fuzz", is_staff=True)
    study.coordinators.add(user)
    session = services.session_start(invite=InviteFactory(study=study))
    services.session_profile_submit(session=session, profession="other", years_experience=1)
    services.session_quiz_begin(session=session)
    services.session_current_question(session=session)
    return {"coordinator": f"Token {Token.objects.create(user=user).key}", "participant": f"Bearer {session.access_token}"}


@pytest.mark.django_db(transaction=True)
@schema.parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_operation_answers_with_a_server_error(case, credentials):
    who = "participant" if case.path.startswith("/api/participant/") else "coordinator"
    response = case.call(headers={"Authorization": credentials[who]})
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"
