from __future__ import annotations

import pytest

from survey import services
from tests.survey.factories import DisorderFactory, InviteFactory, StudyFactory, make_bank


@pytest.fixture
def disorders(db):
    return [DisorderFactory(code=f"phx{i}") for i in range(8)]


@pytest.fixture
def study(disorders):
    study = StudyFactory(disorders=disorders)
    make_bank(study, disorders)
    return study


@pytest.fixture
def invite(study):
    return InviteFactory(study=study)


@pytest.fixture
def quiz_session(invite):
    """A session past consent, profile and practice: on its first timed question."""
    session = services.session_start(invite=invite)
    services.session_profile_submit(session=session, profession="clinical_geneticist", years_experience=7)
    return services.session_quiz_begin(session=session)
