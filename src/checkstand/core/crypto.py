"""Secrets at rest (processor credentials, webhook secrets) are encrypted with a key derived from
``CHECKSTAND_SECRET_KEY``; a leaked database alone reveals none of them.

During a key rotation a box holds two keys: it seals with the new one and opens with either
(:class:`~cryptography.fernet.MultiFernet`), so processes keep working while ``checkstand secret-key rotate``
re-encrypts what was sealed with the old one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

_UNREADABLE = "secret cannot be decrypted: was CHECKSTAND_SECRET_KEY changed?"
_CHECK_LABEL = b"checkstand secret key check v1"


def _fernet(secret_key: str) -> Fernet:
    # Fernet wants 32 url-safe base64 bytes; any operator-chosen string becomes one through SHA-256.
    digest = hashlib.sha256(secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def key_check_value(secret_key: str) -> str:
    """A value that tells whether two processes hold the same key without revealing it: an HMAC of a fixed label
    under the key."""
    return hmac.new(secret_key.encode(), _CHECK_LABEL, hashlib.sha256).hexdigest()


class SecretBox:
    def __init__(self, secret_key: str, *previous_keys: str) -> None:
        self._fernet = MultiFernet([_fernet(key) for key in (secret_key, *previous_keys)])

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise ValueError(_UNREADABLE) from exc

    def reseal(self, token: str) -> str:
        """The same secret, sealed with the current key (whichever of the box's keys sealed it)."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken as exc:
            raise ValueError(_UNREADABLE) from exc
