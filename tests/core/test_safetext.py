"""Safe text: nothing that can drive a terminal survives ``escape``; ordinary text is untouched."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bt_mqtt.core.safetext import escape, escape_bytes, is_safe

ACTIVE = ("Cc", "Cf", "Cs", "Cn", "Zl", "Zp")


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b]0;PWN\x07", "\\x1b]0;PWN\\x07"),  # OSC 0: retitle the window
        ("\x1b[2J", "\\x1b[2J"),  # clear the screen
        ("a\r\nb\tc", "a\\r\\nb\\tc"),
        ("\x00\x7f\x9b\x85", "\\x00\\x7f\\x9b\\x85"),  # NUL, DEL, 8-bit CSI, NEL
        ("abc\u202edcba", "abc\\u202edcba"),  # right-to-left override
        ("\u2066x\u2069\u200b\u200d\ufeff\u00ad", "\\u2066x\\u2069\\u200b\\u200d\\ufeff\\xad"),
        ("line\u2028para\u2029", "line\\u2028para\\u2029"),
        ("\ud800", "\\ud800"),  # a lone surrogate (JSON can carry one)
        ("\U000e0001tag", "\\U000e0001tag"),  # LANGUAGE TAG (format)
    ],
)
def test_active_characters_are_escaped_visibly(raw: str, shown: str) -> None:
    assert escape(raw) == shown
    assert is_safe(shown)
    assert not is_safe(raw)


@pytest.mark.parametrize(
    "text",
    [
        "Küche 21,5 °C",
        "温度计",
        "[@click=app.quit]",
        "[/]",
        "a\u00a0b\u3000c",
        "\ue000",
        "🌡️👍🏽",
        "é",
    ],
)
def test_ordinary_text_passes_unchanged(text: str) -> None:
    # Markup is left alone on purpose: the console never parses outside text as markup.
    assert escape(text) is text or escape(text) == text
    assert is_safe(text)


def test_limit_cuts_with_an_ellipsis() -> None:
    assert escape("abcdef", 4) == "abc…"
    assert escape("abc", 3) == "abc"
    assert escape("\x1b\x1b", 5) == "\\x1b…"
    assert escape("ab\x1b", 3) == "ab…"


@settings(max_examples=300)
@given(st.text(st.characters(codec=None, exclude_categories=())), st.integers(0, 30))
def test_limit_is_the_start_of_the_whole(text: str, limit: int) -> None:
    whole = escape(text)
    cut = escape(text, limit)
    assert cut == (whole if len(whole) <= limit else whole[: max(0, limit - 1)] + "…")


def test_bytes_show_invalid_utf8_byte_by_byte() -> None:
    assert escape_bytes(b"ok \xff\xfe \x1b[31m") == "ok \\xff\\xfe \\x1b[31m"
    assert escape_bytes("é".encode()) == "é"
    assert escape_bytes(b"x" * 10_000, 10) == "x" * 9 + "…"


@settings(max_examples=500)
@given(st.text(st.characters(codec=None, exclude_categories=())))
def test_no_active_character_survives(text: str) -> None:
    out = escape(text)
    assert is_safe(out)
    assert not any(unicodedata.category(ch) in ACTIVE for ch in out)
    assert escape(out) == out  # idempotent: escaping twice changes nothing
    if is_safe(text):
        assert out == text


@settings(max_examples=300)
@given(st.binary(max_size=64), st.integers(min_value=1, max_value=40))
def test_bytes_are_safe_and_bounded(data: bytes, limit: int) -> None:
    out = escape_bytes(data, limit)
    assert is_safe(out)
    assert len(out) <= limit
