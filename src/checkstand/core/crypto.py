"""Secrets at rest (processor credentials, webhook secrets) are encrypted with a key derived from
``CHECKSTAND_SECRET_KEY``; a leaked database alone reveals none of them."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken


class SecretBox:
    def __init__(self, secret_key: str) -> None:
        # Fernet wants 32 url-safe base64 bytes; any operator-chosen string becomes one through SHA-256.
        digest = hashlib.sha256(secret_key.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("secret cannot be decrypted: was CHECKSTAND_SECRET_KEY changed?") from exc
