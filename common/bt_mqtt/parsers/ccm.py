"""AES-CCM decryption shared by the BTHome, pvvx/ATC and MiBeacon parsers.

``cryptography`` is imported on first use (it is the ``parsers`` extra); AESCCM objects are
cached per key.  A missing key or a tag mismatch raises ``DecryptionError``.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from bt_mqtt.parsers.api import DecryptionError

log = logging.getLogger(__name__)


@lru_cache(maxsize=1024)
def _cipher(key: bytes, tag_length: int) -> Any:
    from cryptography.hazmat.primitives.ciphers.aead import AESCCM  # noqa: PLC0415

    return AESCCM(key, tag_length=tag_length)


def decrypt(
    key: bytes | None, nonce: bytes, ciphertext: bytes, tag: bytes, aad: bytes | None
) -> bytes:
    """Open an AES-CCM frame whose tag is sent separately; raise ``DecryptionError``."""
    if key is None:
        raise DecryptionError("encrypted frame and no bind key for this device")
    if len(key) != 16:
        raise DecryptionError(f"bind key has {len(key)} bytes, AES-128 needs 16")
    try:
        from cryptography.exceptions import InvalidTag  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - the parsers extra is missing
        raise DecryptionError("install bt-mqtt[parsers] (cryptography) to decrypt") from exc
    try:
        return bytes(_cipher(key, len(tag)).decrypt(nonce, ciphertext + tag, aad))
    except InvalidTag:
        raise DecryptionError("authentication tag mismatch (wrong bind key?)") from None
    except ValueError as exc:
        raise DecryptionError(f"cannot decrypt: {exc}") from None
