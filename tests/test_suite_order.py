"""The order the suite runs in (tests/conftest.py): pytest-django's database phases are kept, because a
transactional test empties the database when it ends, and within each phase the slow tests come first, each
followed by a quick one, so that scripts/test's processes start them early and side by side."""

from __future__ import annotations

import pytest

from tests.conftest import _database_phase, interleaved


def test_the_database_phases_are_kept_and_slow_tests_lead_each_phase(request):
    items = request.session.items
    phases = [_database_phase(item) for item in items]
    assert phases == sorted(phases), "a test runs in an earlier database phase than one before it"
    for phase in set(phases):
        slow = ["slow" in item.keywords for item, p in zip(items, phases, strict=True) if p == phase]
        n_slow, n_quick = sum(slow), len(slow) - sum(slow)
        expected = interleaved([True] * n_slow, [False] * n_quick)  # slow, quick, slow, quick, ... the rest
        assert slow == expected, f"phase {phase} does not start with its slow tests, one quick test after each"


def test_the_phases_are_those_of_pytest_django(request):
    """Spot checks against what pytest-django decides for the same tests: a browser test (live server) is
    transactional, a test with the `db` fixture is not, and a statistics test has no database."""
    items = request.session.items

    def phase_of(prefix: str) -> int:
        matching = [item for item in items if item.nodeid.startswith(prefix)]
        if not matching:
            pytest.skip(f"needs the whole suite collected ({prefix} is not in this run)")
        return _database_phase(matching[0])

    assert phase_of("tests/e2e/test_question_screen.py::") == 1
    assert phase_of("tests/survey/test_build_demo.py::test_rebuilding") == 0
    assert phase_of("tests/analysis/test_analysis_summary.py::") == 2
