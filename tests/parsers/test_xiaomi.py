"""Xiaomi MiBeacon: self-sealed legacy (v2/v3) and v5 frames, device-specific objects, scales."""

from __future__ import annotations

import random
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESCCM

from bt_mqtt.core.advert import Advert
from bt_mqtt.core.bluetooth import mac_bytes
from bt_mqtt.parsers.api import ParseContext, ParseError, ParseResult
from bt_mqtt.parsers.registry import Registry
from bt_mqtt.parsers.xiaomi import UUID, XiaomiParser
from bt_mqtt.parsers.xiaomi_devices import PRODUCTS
from bt_mqtt.parsers.xiaomi_objects import OBJECTS
from bt_mqtt.parsers.xiaomi_scales import UUID_SCALE1, UUID_SCALE2

MAC = "F8:24:41:C5:98:8B"
LEGACY_KEY = bytes.fromhex("b853075158488d3d3c977ca39a5b5ea9")  # the 16-byte form
LEGACY_KEY12 = LEGACY_KEY[:6] + LEGACY_KEY[10:]
V5_KEY = bytes.fromhex("e9ea895fac7cca6d30532432a516f3a8")


def _seal_legacy(key16: bytes, pid: int, counter: int, objects: bytes, ext: bytes) -> bytes:
    """A v3 frame (MAC included, encrypted): CCM (16-byte tag) of which the tag's first byte
    is sent as the token after the 3-byte extended counter."""
    head = (0x3058).to_bytes(2, "little") + pid.to_bytes(2, "little") + bytes([counter])
    mac_rev = mac_bytes(MAC)[::-1]
    nonce = head + ext + mac_rev[:5]
    sealed = AESCCM(key16, tag_length=16).encrypt(nonce, objects, b"\x11")
    ciphertext, tag = sealed[:-16], sealed[-16:]
    return head + mac_rev + ciphertext + ext + tag[:1]


def _seal_v5(key: bytes, pid: int, counter: int, objects: bytes, ext: bytes) -> bytes:
    head = (0x5858).to_bytes(2, "little") + pid.to_bytes(2, "little") + bytes([counter])
    mac_rev = mac_bytes(MAC)[::-1]
    nonce = mac_rev + head[2:5] + ext
    sealed = AESCCM(key, tag_length=4).encrypt(nonce, objects, b"\x11")
    return head + mac_rev + sealed[:-4] + ext + sealed[-4:]


def _advert(frame: bytes, uuid: str = UUID) -> Advert:
    return Advert(mac=MAC, rssi=-60, service_data={uuid: frame})


def _decode(frame: bytes, key: bytes | None = None, uuid: str = UUID) -> Any:
    ctx = ParseContext(bindkeys={MAC: key} if key else {})
    return Registry([XiaomiParser]).decode(_advert(frame, uuid), ctx)


@pytest.mark.parametrize("key", [LEGACY_KEY12, LEGACY_KEY], ids=["12-byte", "16-byte"])
def test_legacy_encryption_round_trip(key: bytes) -> None:
    # YLKG07YL dimmer (0x03B6): rotate right by 3 steps, then temperature 21.5 °C
    objects = bytes.fromhex("011003000304") + bytes.fromhex("041002d700")
    frame = _seal_legacy(LEGACY_KEY, 0x03B6, 0x42, objects, b"\x07\x00\x00")
    out = _decode(frame, key)
    assert out.error is None, out.error
    assert out.result.readings == {"temperature_c": 21.5}
    assert out.result.facts["events"] == [
        {"type": "dimmer", "event": "rotate_right", "key": "dimmer", "steps": 3}
    ]
    assert out.result.facts["model"] == "YLKG07YL/YLKG08YL"
    assert out.result.facts["packet_id"] == 0x42


def test_legacy_wrong_key_is_a_decryption_failure() -> None:
    objects = bytes.fromhex("0d1004d700f401")  # 21.5 °C, 50.0 %
    frame = _seal_legacy(LEGACY_KEY, 0x055B, 9, objects, b"\x01\x02\x03")
    assert _decode(frame, LEGACY_KEY12).result.readings == {
        "temperature_c": 21.5,
        "humidity_pct": 50.0,
    }
    wrong = bytes(12 - i for i in range(12))
    out = _decode(frame, wrong)
    assert out.result is None and out.decrypt_failed
    out = _decode(frame, None)
    assert out.result is None and out.decrypt_failed, "no key is a decryption failure too"


def test_legacy_token_is_checked() -> None:
    frame = bytearray(
        _seal_legacy(LEGACY_KEY, 0x055B, 9, bytes.fromhex("041002d700"), b"\x01\x02\x03")
    )
    assert _decode(bytes(frame), LEGACY_KEY12).result.readings == {"temperature_c": 21.5}
    frame[-1] ^= 0x5A
    out = _decode(bytes(frame), LEGACY_KEY12)
    assert out.decrypt_failed and "token" in (out.error or "")


def test_legacy_key_of_bad_length_is_reported() -> None:
    frame = _seal_legacy(LEGACY_KEY, 0x055B, 9, bytes.fromhex("041002d700"), b"\x01\x02\x03")
    out = _decode(frame, b"\x01" * 10)
    assert out.decrypt_failed and "12" in (out.error or "")


def test_v5_round_trip_and_tampering() -> None:
    objects = bytes.fromhex("024c012e")  # 0x4C02: humidity 46 %
    frame = _seal_v5(V5_KEY, 0x16E4, 7, objects, b"\x10\x00\x00")
    assert _decode(frame, V5_KEY).result.readings == {"humidity_pct": 46}
    tampered = bytearray(frame)
    tampered[12] ^= 0x01
    out = _decode(bytes(tampered), V5_KEY)
    assert out.result is None and out.decrypt_failed


def test_capability_with_io_bytes_is_skipped() -> None:
    # v4, capability included with bit 5 (I/O capability: 2 more bytes), then a plain object
    frame = bytes.fromhex("6040aa0105280100041002fe00")
    assert _decode(frame).result.readings == {"temperature_c": 25.4}


def _plain(pid: int, *objects: str) -> bytes:
    head = bytes.fromhex("4040") + pid.to_bytes(2, "little") + b"\x01"  # v4, objects, no MAC
    return head + bytes.fromhex("".join(objects))


def test_remote_on_button_sets_power_and_names_the_button() -> None:
    res = _decode(_plain(0x0153, "011003", "000000")).result  # YLYK01YL "on", press
    assert res.readings == {"power": 1}
    assert res.facts["events"] == [{"type": "button", "event": "press", "key": "button_on"}]


def test_k9b_switch_reports_each_button_pressed_together() -> None:
    res = _decode(_plain(0x0DFD, "011003", "040002")).result  # K9B-3BTN middle+right, double
    assert [(e["key"], e["event"]) for e in res.facts["events"]] == [
        ("button_middle", "double_press"),
        ("button_right", "double_press"),
    ]


def test_lock_object() -> None:
    # ZNMS16LM: unlock outside the door by fingerprint (key 0x80010002), time 0x612f447c
    res = _decode(_plain(0x069E, "0b0009", "20020001807c442f61")).result
    assert res.readings == {"lock": 1}
    assert res.facts["lock_method"] == "biometrics"
    assert res.facts["key_id"] == "Fingerprint key id 2"
    assert res.facts["key_index"] == 2
    assert res.facts["timestamp_s"] == 0x612F447C
    assert res.facts["events"] == [
        {"type": "lock", "event": "unlock_outside_the_door", "key": "lock"}
    ]


def test_model_decides_what_0x1007_means() -> None:
    assert _decode(_plain(0x0098, "071003", "640000")).result.readings == {"illuminance_lux": 100}
    assert _decode(_plain(0x07F6, "071003", "640000")).result.readings == {"light": 1}


def test_unknown_object_is_listed_and_the_rest_decodes() -> None:
    res = _decode(_plain(0x01AA, "ff7f01", "00", "041002", "fe00")).result
    assert res.readings == {"temperature_c": 25.4}
    assert res.facts["unknown_objects"] == ["0x7fff"]


def test_truncated_object_is_a_parse_error() -> None:
    out = _decode(_plain(0x01AA, "0d1004", "fe00"))
    assert out.result is None and out.parser == "xiaomi" and out.error


def test_scale_v1_pounds_and_v2_impedance() -> None:
    # 0x181D: control 0x21 = pounds + stabilized, 0x2710 = 100.00 lb
    res = _decode(bytes.fromhex("211027e507040b101301"), uuid=UUID_SCALE1).result
    assert res.readings["mass_kg"] == pytest.approx(45.359237)
    assert res.readings["stabilized"] == 1
    # 0x181B: stable with stable impedance 500 Ω, 0x3a98 = 15000 / 200 = 75 kg
    frame = bytes.fromhex("0222e507040b101301f401983a")
    res = _decode(frame, uuid=UUID_SCALE2).result
    assert res.readings == {
        "mass_non_stabilized_kg": 75.0,
        "stabilized": 1,
        "mass_kg": 75.0,
        "impedance_ohm": 500,
    }


def test_scale_frame_of_wrong_length_is_not_claimed() -> None:
    out = _decode(bytes(7), uuid=UUID_SCALE1)
    assert out.parser is None and out.result is None


MODELS = [*sorted(set(PRODUCTS.values())), ""]


def test_every_object_and_model_survives_random_values() -> None:
    """Random values for every object type under every model: a ParseError or numeric
    readings, nothing else (the registry would count anything else as a crash)."""
    rng = random.Random(1234)
    for otype, handler in OBJECTS.items():
        for model in MODELS:
            for _ in range(8):
                value = rng.randbytes(rng.randrange(0, 12))
                res = ParseResult("xiaomi")
                try:
                    handler(value, res, model)
                except ParseError:
                    continue
                bad = {k: v for k, v in res.readings.items() if not isinstance(v, int | float)}
                assert not bad, (hex(otype), model, value.hex(), bad)
