"""Masking secrets in messages meant for people (configuration errors, logs).

``redact`` replaces with ``***``: the password of every URL (``scheme://user:PASSWORD@host``),
every ``password=...`` pair (libpq connection strings, query strings), and on a line about a
key that holds a secret (``password``, ``passwd``, ``secret``, ``token``, ``bindkeys``;
``password_file`` is a path, not a secret) every quoted value after the key and the value after
"got TYPE".  Pure.
"""

from __future__ import annotations

import re
from typing import Final

MASK: Final = "***"

_URL_PASSWORD: Final = re.compile(
    r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/?#@'\"]*:)[^\s'\"]*(?=@)"
)
_PAIR: Final = re.compile(
    r"(?P<head>\bpassword\s*=\s*)(?:'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^\s&;,'\"]+)",
    re.IGNORECASE,
)
_SECRET_KEY: Final = re.compile(
    r"(?:^|[\s.\[])(?:password|passwd|secret|token|bindkeys)(?:\[[^\]\n]*\])*: ", re.IGNORECASE
)
_QUOTED: Final = re.compile(r"'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\"")
_GOT: Final = re.compile(r"(\bgot [A-Za-z_]\w*) .*")


def _line(line: str) -> str:
    m = _SECRET_KEY.search(line)
    if m is None:
        return line
    tail = _QUOTED.sub(f"'{MASK}'", line[m.end() :])
    return line[: m.end()] + _GOT.sub(rf"\1 {MASK}", tail)


def redact(text: str) -> str:
    """``text`` with the secrets described above masked."""
    text = _URL_PASSWORD.sub(rf"\g<head>{MASK}", text)
    text = _PAIR.sub(rf"\g<head>{MASK}", text)
    return "\n".join(_line(line) for line in text.split("\n"))
