"""Control and format characters from outside never reach a terminal unescaped (as the
command-line programs use ``safetext.escape``: whole strings, some characters kept)."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from bt_mqtt.core.safetext import escape


def test_escapes() -> None:
    assert escape("plain ASCII, é, 漢字, emoji 🙂") == "plain ASCII, é, 漢字, emoji 🙂"
    assert escape("\x1b]0;PWN\x07") == "\\x1b]0;PWN\\x07"
    assert escape("a\r\nb\tc\x7f\x9b") == "a\\r\\nb\\tc\\x7f\\x9b"
    assert escape("a\nb\x00", keep="\n") == "a\nb\\x00"
    assert escape("\u202eevil\u2028\ud800\U000e0001") == "\\u202eevil\\u2028\\ud800\\U000e0001"


@given(st.text(st.characters(codec=None, exclude_categories=())))
def test_output_is_printable_and_encodable(text: str) -> None:
    out = escape(text)
    # only printable characters, spaces and private-use characters (which draw as boxes) remain
    assert all(ch.isprintable() or unicodedata.category(ch) in ("Zs", "Co") for ch in out)
    out.encode("utf-8")  # no lone surrogate survives
    if text.isprintable():
        assert out == text
