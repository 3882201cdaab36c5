"""The export contract: what load_export accepts and how it names what is wrong."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import COLUMNS, ExportError, load_export

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "fixtures" / "paper_export.csv"


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return pd.read_csv(FIXTURE, dtype=str, keep_default_na=False)


def _write(tmp_path, frame: pd.DataFrame) -> Path:
    path = tmp_path / "export.csv"
    frame.to_csv(path, index=False)
    return path


def test_it_reads_the_fixture_with_typed_columns():
    df = load_export(FIXTURE)
    assert list(df.columns[: len(COLUMNS)]) == list(COLUMNS)
    assert df["position"].dtype == np.int64 and df["n_options"].dtype == np.int64
    answered = df["outcome"] == "answered"
    assert df.loc[answered, "correct"].isin([0.0, 1.0]).all()
    assert df.loc[~answered, "correct"].isna().all()
    assert df.loc[df["outcome"] == "timeout", "response_ms"].isna().all()


def test_it_accepts_a_dataframe_and_extra_columns(rows):
    frame = rows.assign(browser="firefox")
    df = load_export(frame)
    assert len(df) == len(rows) and "browser" in df.columns
    assert "browser" not in rows.columns  # the caller's frame is not modified


def test_it_accepts_numbers_and_nan_in_a_dataframe(rows):
    frame = load_export(FIXTURE)  # already typed: NaN for empty correct/response
    assert len(load_export(frame)) == len(rows)


def _broken(rows, row: int, **changes) -> pd.DataFrame:
    frame = rows.copy()
    for column, value in changes.items():
        frame.loc[row - 1, column] = value
    return frame


def _first(rows, outcome, correct=None):
    mask = rows["outcome"] == outcome
    if correct is not None:
        mask &= rows["correct"] == correct
    return int(np.flatnonzero(mask.to_numpy())[0]) + 1


@pytest.mark.parametrize(
    "make, column, message",
    [
        (lambda r: _broken(r, 7, category="aesthetics"), "category", "unknown category"),
        (lambda r: _broken(r, 7, category=""), "category", "is empty"),
        (lambda r: _broken(r, 9, outcome="abandoned"), "outcome", "unknown outcome"),
        (lambda r: _broken(r, 3, stimulus_kind="real"), "stimulus_kind", "not a stimulus kind"),
        (lambda r: _broken(r, 4, n_options="four"), "n_options", "is not a number"),
        (lambda r: _broken(r, 4, chance="0.5"), "chance", "1/n_options"),
        (lambda r: _broken(r, 5, position="0"), "position", "1 or more"),
        (lambda r: _broken(r, 5, participant=""), "participant", "is empty"),
    ],
)
def test_it_names_column_and_row_of_a_bad_cell(tmp_path, rows, make, column, message):
    frame = make(rows)
    changed = (frame != rows).any(axis=1).to_numpy()
    row = int(np.flatnonzero(changed)[0]) + 1
    with pytest.raises(ExportError, match=message) as err:
        load_export(_write(tmp_path, frame))
    assert err.value.column == column and err.value.row == row
    assert f"row {row} (line {row + 1})" in str(err.value) and repr(column) in str(err.value)


def test_correct_that_contradicts_choice_is_refused(rows):
    row = _first(rows, "answered", "1")
    frame = _broken(rows, row, correct="0")
    with pytest.raises(ExportError, match="equals correct_choice") as err:
        load_export(frame)
    assert (err.value.column, err.value.row) == ("correct", row)
    row = _first(rows, "answered", "0")
    with pytest.raises(ExportError, match="differs from correct_choice") as err:
        load_export(_broken(rows, row, correct="1"))
    assert err.value.row == row


def test_skipped_question_with_a_choice_is_refused(rows):
    row = _first(rows, "skipped")
    with pytest.raises(ExportError, match="must be empty") as err:
        load_export(_broken(rows, row, choice="2"))
    assert (err.value.column, err.value.row) == ("choice", row)


def test_answered_question_without_correct_is_refused(rows):
    row = _first(rows, "answered")
    with pytest.raises(ExportError) as err:
        load_export(_broken(rows, row, correct=""))
    assert (err.value.column, err.value.row) == ("correct", row)


def test_timeout_with_a_response_time_is_refused(rows):
    row = _first(rows, "timeout")
    with pytest.raises(ExportError) as err:
        load_export(_broken(rows, row, response_ms="1200"))
    assert (err.value.column, err.value.row) == ("response_ms", row)


def test_missing_column_is_named(tmp_path, rows):
    with pytest.raises(ExportError, match="required column missing") as err:
        load_export(_write(tmp_path, rows.drop(columns="outcome")))
    assert err.value.column == "outcome"


def test_empty_and_missing_files_are_refused(tmp_path, rows):
    with pytest.raises(ExportError, match="no rows"):
        load_export(_write(tmp_path, rows.iloc[:0]))
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ExportError, match="empty"):
        load_export(empty)
    with pytest.raises(ExportError, match="not found"):
        load_export(tmp_path / "nope.csv")


def test_export_error_is_a_value_error():
    assert issubclass(ExportError, ValueError)
