"""The agent's field rules for radio input: canonical wire forms or None."""

from __future__ import annotations

import pytest

from bt_mqtt.agent.backends import values
from bt_mqtt.core import wire
from bt_mqtt.core.bluetooth import BASE_UUID_SUFFIX

SVC = "0000fcd2-0000-1000-8000-00805f9b34fb"


@pytest.mark.parametrize(
    ("raw", "canon"),
    [
        (SVC, SVC),
        (SVC.upper(), SVC),
        ("FCD2", SVC),
        ("fcd2", SVC),
        ("0000fcd2", SVC),
        ("12345678-9abc-def0-1234-56789ABCDEF0", "12345678-9abc-def0-1234-56789abcdef0"),
    ],
)
def test_uuid_spellings_become_the_128_bit_lower_case_form(raw: str, canon: str) -> None:
    assert values.uuid(raw) == canon
    assert values.uuid(raw) == canon  # from the cache
    assert wire.UUID_RE.fullmatch(canon)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "fcd",
        "0xfcd2",
        "{0000fcd2-0000-1000-8000-00805f9b34fb}",
        "0000fcd2-0000-1000-8000-00805f9b34fb ",
        "0000fcd20000-1000-8000-00805f9b34fb",
        '"},"mac":"EE:EE:EE:EE:EE:EE","x":{"',
        "fc\u0661\u0662",  # Arabic-Indic digits are not hex digits
        "\uff26\uff23d2",  # full-width FC
        "ｆｃｄ２",
        None,
        0xFCD2,
        b"fcd2",
    ],
)
def test_other_uuid_spellings_are_refused(raw: object) -> None:
    assert values.uuid(raw) is None


def test_the_uuid_cache_stays_bounded() -> None:
    for i in range(3 * 4096):
        assert values.uuid(f"{i:08x}") == f"{i:08x}{BASE_UUID_SUFFIX}"
    assert len(values.UUID_CACHE) <= 4096


def test_macs() -> None:
    assert values.mac("c0:ff:ee:00:00:0a") == "C0:FF:EE:00:00:0A"
    for bad in ["C0:FF:EE:00:00", "C0-FF-EE-00-00-0A", "ﬀ:ﬀ:ﬀ:ﬀ:ﬀ:ﬀ", "C0:FF:EE:00:00:0A\n", 1]:
        assert values.mac(bad) is None, bad


def test_dbm_company_ids_address_types_and_data() -> None:
    assert [values.dbm(v) for v in (-128, 0, 127)] == [-128, 0, 127]
    assert [values.dbm(v) for v in (-129, 128, 2**63, True, -50.0, "-50")] == [None] * 6
    assert [values.company_id(v) for v in (0, 0xFFFF)] == [0, 0xFFFF]
    assert [values.company_id(v) for v in (-1, 0x10000, False, "76")] == [None] * 4
    assert values.address_type("random") == "random"
    assert [values.address_type(v) for v in ("Random", "static", "", None)] == [None] * 4
    assert values.data(bytearray(b"\x01")) == b"\x01" and type(values.data(b"x")) is bytes
    assert [values.data(v) for v in ("01", [1], 1, None, memoryview(b"x"))] == [None] * 5


def test_names() -> None:
    for ok in ["", 'a"b\\c', "\x00\x1b]0;PWN\x07", "é" * 124, "x" * 248]:
        assert values.name(ok) == ok
    for bad in ["x" * 249, "é" * 125, "lone \ud800", "\udfff", b"name", 5]:
        assert values.name(bad) is None
