"""Public identifiers and secrets.

Ids are prefixed so a human can tell an object's kind at a glance (``cs_...`` is a checkout session), and random so
they can't be enumerated. Secrets carry 256 bits from :mod:`secrets`.
"""

from __future__ import annotations

import hashlib
import secrets

ID_BYTES = 16  # 128 bits: unguessable, short enough to read
SECRET_BYTES = 32


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(ID_BYTES).replace('-', 'x').replace('_', 'z')}"


def new_secret(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}"


def hash_secret(secret: str) -> str:
    """A secret is stored only as this digest. SHA-256 suffices: the input carries 256 random bits, so there
    is nothing for a slow hash to protect against."""
    return hashlib.sha256(secret.encode()).hexdigest()
