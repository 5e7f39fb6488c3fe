"""Secrets sealed at rest with Fernet (`cryptography`): AES-128-CBC with an HMAC-SHA256, so a row altered or sealed
with another key is refused, never misread.

`Sealer(keys)` takes BANANA_ENCRYPTION_KEYS' keys, newest first: it seals with the newest and opens with any of them,
which is what lets an operator rotate the key (installations.py says how).
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class UnknownKey(Exception):
    """A sealed value none of the listed keys opens: its key was dropped from the list, or the value was altered."""

    def __init__(self) -> None:
        super().__init__(
            "a stored installation was encrypted with a key not in BANANA_ENCRYPTION_KEYS "
            "(or was altered): put the key it was sealed with back in the list, after the newest"
        )


class Sealer:
    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("no encryption key: set BANANA_ENCRYPTION_KEYS (make one with `banana-bot new-key`)")
        fernets = [Fernet(key) for key in keys]
        self._newest = fernets[0]
        self._any = MultiFernet(fernets)

    def seal(self, text: str) -> str:
        """`text` encrypted with the newest key (Fernet's token: URL-safe base64, so it fits a text column)."""
        return self._newest.encrypt(text.encode()).decode("ascii")

    def open(self, token: str) -> str:
        """The text `token` seals, whichever listed key sealed it; UnknownKey when none does."""
        try:
            return self._any.decrypt(token.encode("ascii")).decode()
        except (InvalidToken, UnicodeEncodeError):
            raise UnknownKey() from None
