"""The image-bank manifest (`manifest.csv`): the one reading of its training flag, shared by the
survey's import, the generator's trainer and its privacy gate. No Django, no torch."""

from __future__ import annotations

# Spellings a spreadsheet or a script may write, compared case-insensitively after stripping spaces.
_TRAINING_FLAG = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
TRAINING_FLAG_SPELLINGS = "1/0, true/false or yes/no"


def parse_training_flag(value: str | None) -> bool | None:
    """Whether a manifest's `used_in_training` cell says the generator was trained on the portrait.

    None for an empty cell (allowed for synthetic portraits); ValueError for anything that is not one
    of the spellings in `TRAINING_FLAG_SPELLINGS`.

    >>> parse_training_flag(" Yes "), parse_training_flag("0"), parse_training_flag("")
    (True, False, None)
    """
    text = (value or "").strip().lower()
    if not text:
        return None
    if text not in _TRAINING_FLAG:
        raise ValueError(f"used_in_training {value!r} is not {TRAINING_FLAG_SPELLINGS}")
    return _TRAINING_FLAG[text]
