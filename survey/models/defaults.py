"""The fields' random defaults: URL tokens, pseudonyms, seeds and study secrets, from the OS's CSPRNG."""

from __future__ import annotations

import secrets


def new_url_token() -> str:
    """An unguessable token for URLs: 192 bits from the OS's CSPRNG."""
    return secrets.token_urlsafe(24)


def new_pseudonym() -> str:
    """A short pseudonymous id that names a participant in exports; carries no personal data."""
    return "P" + secrets.token_hex(6)


def new_session_seed() -> int:
    """The session's randomisation seed: stored, so the session's questions can be rebuilt."""
    return secrets.randbits(62)


def new_study_secret() -> str:
    """The key under which a study hashes participant identifiers: never shown, never exported."""
    return secrets.token_hex(32)
