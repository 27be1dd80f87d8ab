"""UUID forms and address bytes: the one helper each."""

from __future__ import annotations

import pytest

from bt_mqtt.core.bluetooth import canonical_uuid, mac_bytes, short_uuid, uuid16, uuid128

ESS = "0000181a-0000-1000-8000-00805f9b34fb"
CUSTOM = "6e400001-b5a3-f393-e0a9-e50e24dcca9e"


def test_canonical_uuid_is_strict() -> None:
    assert canonical_uuid("181a") == canonical_uuid("181A") == ESS
    assert canonical_uuid("0000181a") == ESS
    assert canonical_uuid("fde4abcd") == "fde4abcd-0000-1000-8000-00805f9b34fb"
    assert canonical_uuid(CUSTOM.upper()) == CUSTOM
    for bad in ("0x181a", " 181a", "181", "181a1", "", "g81a", CUSTOM + "0", CUSTOM[:-1]):
        assert canonical_uuid(bad) is None, bad


def test_uuid128_takes_what_people_write() -> None:
    assert uuid128(0x181A) == uuid128("0x181A") == uuid128(" 181a ") == uuid128(ESS.upper()) == ESS
    assert uuid128(0xFDE4ABCD) == "fde4abcd-0000-1000-8000-00805f9b34fb"
    assert uuid128(CUSTOM) == CUSTOM
    assert uuid128(" Not-A-UUID ") == "not-a-uuid"  # matches nothing, as before
    assert uuid16(0xFCD2) == "0000fcd2-0000-1000-8000-00805f9b34fb"


@pytest.mark.parametrize(
    ("uuid", "short"),
    [
        (ESS, 0x181A),
        ("0000fcd2-0000-1000-8000-00805f9b34fb", 0xFCD2),
        ("fde4abcd-0000-1000-8000-00805f9b34fb", None),  # 32-bit: no 16-bit form
        (CUSTOM, None),
        ("0000 1a2-0000-1000-8000-00805f9b34fb", None),
        ("0000+1a2-0000-1000-8000-00805f9b34fb", None),
        ("0000181a-0000-1000-8000-00805f9b34fbX", None),
    ],
)
def test_short_uuid(uuid: str, short: int | None) -> None:
    assert short_uuid(uuid) == short


def test_mac_bytes_in_display_order() -> None:
    assert mac_bytes("A4:C1:38:12:34:56") == bytes([0xA4, 0xC1, 0x38, 0x12, 0x34, 0x56])
    assert mac_bytes("a4:c1:38:12:34:56") == bytes.fromhex("a4c138123456")
