"""The tidy export: the columns of docs/exports.md in order, one row per question shown, nothing personal."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
import time_machine
from django.core.management import call_command

from survey import export, services
from survey.export import ANSWER_COLUMNS, OPTION_COLUMNS, options_frame, render
from survey.models import Question
from tests.exports_doc import documented_columns
from tests.survey.factories import InviteFactory

T0 = datetime(2031, 5, 4, 8, 0, tzinfo=UTC)  # after the fixtures were made


def play(study, *, label: str = "Dr. Jane Example <jane@example.org>") -> object:
    """One participant: answers right, wrong, skips and lets one question time out."""
    invite = InviteFactory(study=study, label=label)
    with time_machine.travel(T0, tick=False) as clock:
        session = services.session_start(invite=invite)
        services.session_profile_submit(session=session, profession="paediatrician", years_experience=4)
        services.session_quiz_begin(session=session)
        n = 0
        while (question := services.session_current_question(session=session)) is not None:
            services.question_clock_start(session=session, question_id=question.pk)
            clock.shift(timedelta(milliseconds=1234))
            if n == 3:
                clock.shift(timedelta(seconds=120))  # walks away: timeout
                n += 1
                continue
            choice = (
                None
                if n % 5 == 1
                else question.correct_choice
                if n % 2 == 0
                else question.options.exclude(code=question.correct_choice).first().code
            )
            services.answer_submit(session=session, question_id=question.pk, choice=choice)
            n += 1
    return session


def test_the_export_has_the_documented_columns_in_order(study):
    """The page the statisticians read is the contract: the file's header is its table, in its order."""
    play(study)
    frame = pd.read_csv(io.BytesIO(export.answers_csv(study)), keep_default_na=False)
    assert list(frame.columns) == documented_columns("answers")
    assert len(frame) == 30


def test_each_outcome_is_exported_as_the_contract_says(study):
    session = play(study)
    frame = pd.read_csv(io.BytesIO(export.answers_csv(study)), keep_default_na=False, dtype=str)
    timeout = frame[frame.outcome == "timeout"]
    skipped = frame[frame.outcome == "skipped"]
    answered = frame[frame.outcome == "answered"]
    assert len(timeout) == 1 and len(skipped) > 0 and len(answered) > 0
    assert (timeout.choice == "").all() and (timeout.correct == "").all() and (timeout.response_ms == "").all()
    assert (skipped.choice == "").all() and (skipped.correct == "").all()
    assert set(answered.correct) == {"0", "1"}
    assert ((answered.choice == answered.correct_choice) == (answered.correct == "1")).all()
    assert (answered.response_ms == "1234").all()
    assert (frame.seed == str(session.seed)).all()
    assert set(frame.position.astype(int)) == set(range(1, 31))
    chance = frame.chance.astype(float) * frame.n_options.astype(int)
    assert chance.round(12).eq(1).all()
    assert set(frame.stimulus_kind[frame.category == "real_vs_synthetic"]) == {"mixed"}
    assert set(frame.stimulus_kind[frame.category == "reidentification"]) == {"latent_average"}
    assert set(frame.stimulus_kind[frame.category == "diagnosis"]) == {"real", "synthetic"}
    assert frame.started_at.str.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$").all()


def test_the_export_names_no_person_token_or_file(study):
    session = play(study)
    invite = session.invite
    for table, fmt in [("answers", "csv"), ("answers", "json"), ("participants", "csv"), ("settings", "json")]:
        text = export.render(study, table, fmt).decode()
        for secret in (invite.token, invite.label, "jane", session.access_token, "image-bank", ".jpg", ".png"):
            assert secret.lower() not in text.lower(), (table, secret)


def test_the_participants_table_counts_each_outcome(study):
    play(study)
    row = export.participants_frame(study).iloc[0]
    assert (row.n_answered + row.n_skipped + row.n_timeout) == 30 and row.n_timeout == 1
    assert row.profession == "paediatrician" and row.erased == 0


def test_erasure_removes_personal_fields_and_keeps_the_answers(study):
    session = play(study)
    before = export.answers_frame(study)
    services.participant_erase(session=session, reason="e-mail request of 2031-05-05")
    session.refresh_from_db()
    assert session.profession == "" and session.years_experience is None
    assert session.erasure_reason == "e-mail request of 2031-05-05"
    assert session.invite.label == ""
    pd.testing.assert_frame_equal(export.answers_frame(study), before)
    assert export.participants_frame(study).iloc[0].erased == 1


def test_erasure_needs_a_reason(study):
    with pytest.raises(ValueError):
        services.participant_erase(session=play(study), reason="  ")


def test_the_settings_file_describes_the_study(study):
    play(study)
    settings = json.loads(export.render(study, "settings", "json"))
    assert settings["study"]["time_limit_diagnosis_ms"] == study.time_limit_diagnosis_ms
    assert settings["platform_version"]
    assert len(settings["image_bank"]) == study.portraits.count()
    assert {"content_hash", "kind", "disorder", "used_in_training"} <= set(settings["image_bank"][0])


def test_abandoned_questions_are_exported_as_timeouts(study):
    invite = InviteFactory(study=study)
    with time_machine.travel(T0, tick=False) as clock:
        session = services.session_start(invite=invite)
        services.session_profile_submit(session=session, profession="other", years_experience=1)
        services.session_quiz_begin(session=session)
        services.session_current_question(session=session)
        clock.shift(timedelta(hours=2))
        assert services.study_expire_overdue(study=study) == 1
    frame = export.answers_frame(study)
    assert list(frame.outcome) == ["timeout"]


def test_export_results_writes_every_file(study, tmp_path):
    play(study)
    call_command("export_results", study.slug, out=str(tmp_path), stdout=io.StringIO())
    names = sorted(p.name for p in tmp_path.iterdir())
    slug = study.slug
    assert names == sorted(
        [
            f"{slug}-answers.csv",
            f"{slug}-answers.json",
            f"{slug}-answers.xlsx",
            f"{slug}-options.csv",
            f"{slug}-options.xlsx",
            f"{slug}-participants.csv",
            f"{slug}-participants.xlsx",
            f"{slug}-settings.json",
        ]
    )
    xlsx = pd.read_excel(tmp_path / f"{slug}-answers.xlsx")
    assert list(xlsx.columns) == ANSWER_COLUMNS and len(xlsx) == 30


def test_the_spreadsheet_keeps_seeds_exact_and_times_as_dates(study, tmp_path):
    from openpyxl import load_workbook

    session = play(study)
    workbook = load_workbook(io.BytesIO(render(study, "answers", "xlsx")))
    sheet = workbook["answers"]
    header = [cell.value for cell in sheet[1]]
    first = [cell.value for cell in sheet[2]]
    assert first[header.index("seed")] == str(session.seed)  # all 19 digits, as text
    assert isinstance(first[header.index("answered_at")], datetime)


def test_the_options_table_has_one_row_per_option_shown_with_what_was_chosen(study):
    session = play(study)
    frame = options_frame(study)
    assert list(frame.columns) == documented_columns("options")
    answered = Question.objects.filter(session=session, is_practice=False)
    assert len(frame) == sum(q.options.count() for q in answered)
    for question in answered:
        rows = frame[frame["question"] == question.pk]
        assert rows["is_correct"].sum() == 1
        assert rows.loc[rows["is_correct"] == 1, "option"].item() == question.correct_choice
        chosen = rows.loc[rows["chosen"] == 1, "option"].tolist()
        assert chosen == ([question.answer.choice] if question.answer.choice else [])
        if question.category == "real_vs_synthetic":
            real = rows[rows["kind"] == "real"]
            assert len(real) == 1 and real["is_correct"].item() == 1 and real["used_in_training"].item() == 1
        if question.category == "diagnosis":
            assert set(rows["portrait"]) == {""} and set(rows["option"]) == set(rows["disorder"])


def test_the_export_is_read_by_the_analysis_package(study, tmp_path):
    import analysis

    play(study)
    path = tmp_path / "answers.csv"
    path.write_bytes(export.answers_csv(study))
    frame = analysis.load_export(path)
    assert len(frame) == 30
    sheet = tmp_path / "answers.xlsx"  # the spreadsheet too, as the export job writes it
    sheet.write_bytes(render(study, "answers", "xlsx"))
    from_sheet = analysis.load_export(sheet)
    assert len(from_sheet) == 30
    assert list(from_sheet.correct.fillna(-1)) == list(frame.correct.fillna(-1))
    assert analysis.build_report(from_sheet)["categories"] == analysis.build_report(frame)["categories"]


def test_the_dashboard_shows_progress_accuracy_and_downloads(study, admin_client, django_capture_on_commit_callbacks):
    from tests.survey.test_dashboard_refresh import run_worker

    play(study)
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.get(f"/staff/studies/{study.slug}/dashboard/")  # queues the figures for the worker
    run_worker()
    page = admin_client.get(f"/staff/studies/{study.slug}/dashboard/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "1</strong> sessions started" in html and "Clopper-Pearson" in html
    assert "data:image/png;base64," in html
    assert f"/api/studies/{study.slug}/export/answers.csv" in html
    assert admin_client.get(f"/api/studies/{study.slug}/export/answers.csv").status_code == 200


def test_the_dashboard_is_for_the_studys_coordinators_only(study, client, django_user_model):
    outsider = django_user_model.objects.create_user("outsider", is_staff=True)
    client.force_login(outsider)
    assert client.get(f"/staff/studies/{study.slug}/dashboard/").status_code == 404
    client.logout()
    assert client.get(f"/staff/studies/{study.slug}/dashboard/").status_code == 302  # to the login page


def test_the_dashboard_of_a_study_without_answers(study, admin_client, django_capture_on_commit_callbacks):
    from tests.survey.test_dashboard_refresh import run_worker

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.get(f"/staff/studies/{study.slug}/dashboard/")
    run_worker()
    page = admin_client.get(f"/staff/studies/{study.slug}/dashboard/")
    assert page.status_code == 200 and b"No answers yet" in page.content


def test_docs_exports_documents_every_column_of_every_table():
    from survey.export import PARTICIPANT_COLUMNS

    for table, columns in [
        ("answers", ANSWER_COLUMNS),
        ("options", OPTION_COLUMNS),
        ("participants", PARTICIPANT_COLUMNS),
    ]:
        names = set(documented_columns(table))
        assert set(columns) <= names, (table, set(columns) - names)
