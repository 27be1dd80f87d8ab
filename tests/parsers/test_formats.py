"""BTHome, ATC/pvvx and MiBeacon specifics: encryption (right and wrong keys), packet-id
dedup, events, truncation.  Encrypted frames are built here with cryptography's AESCCM."""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers.aead import AESCCM

from bt_mqtt.core.advert import Advert
from bt_mqtt.core.bluetooth import mac_bytes
from bt_mqtt.parsers.api import ParseContext
from bt_mqtt.parsers.registry import Registry

BTHOME = "0000fcd2-0000-1000-8000-00805f9b34fb"
ATC = "0000181a-0000-1000-8000-00805f9b34fb"
MIBEACON = "0000fe95-0000-1000-8000-00805f9b34fb"
MAC = "A4:C1:38:12:34:56"
KEY = bytes.fromhex("00112233445566778899aabbccddeeff")
MAC_B = mac_bytes(MAC)


def seal(key: bytes, nonce: bytes, plain: bytes, aad: bytes | None) -> tuple[bytes, bytes]:
    out = AESCCM(key, tag_length=4).encrypt(nonce, plain, aad)
    return out[:-4], out[-4:]


def bthome_encrypted(plain: bytes, counter: int) -> bytes:
    ctr = counter.to_bytes(4, "little")
    ct, tag = seal(KEY, MAC_B + b"\xd2\xfc\x41" + ctr, plain, None)
    return b"\x41" + ct + ctr + tag


def test_bthome_encrypted_right_and_wrong_key() -> None:
    reg = Registry.default(plugins=False)
    adv = Advert(MAC, -60, service_data={BTHOME: bthome_encrypted(bytes.fromhex("02ca09"), 7)})
    ok = reg.parse(adv, ParseContext(bindkeys={MAC: KEY}))
    assert ok is not None
    assert ok.readings == {"temperature_c": 25.06}
    assert ok.facts["encrypted"] is True
    out = reg.decode(adv, ParseContext(bindkeys={MAC: bytes(16)}))
    assert out.decrypt_failed
    assert out.result is None
    assert reg.decode(adv, ParseContext()).decrypt_failed  # no key at all
    assert reg.stats.decrypt_failures == {"bthome": 2}


def test_bthome_packet_id_dedup_drops_repeated_events() -> None:
    reg = Registry.default(plugins=False)
    ctx = ParseContext()
    adv = Advert(MAC, -60, service_data={BTHOME: bytes.fromhex("4000053a01")})
    first = reg.parse(adv, ctx)
    again = reg.parse(adv, ctx)
    assert first is not None
    assert again is not None
    assert first.facts["events"] == [{"type": "button", "event": "press", "index": 0}]
    assert "events" not in again.facts
    assert again.facts["duplicate"] is True
    assert ctx.state["bthome"][MAC] == 5


def test_bthome_truncated_and_wrong_version_are_counted() -> None:
    reg = Registry.default(plugins=False)
    for data in ("4002ca", "6002ca09", "", "43a5808f"):
        out = reg.decode(
            Advert(MAC, -60, service_data={BTHOME: bytes.fromhex(data)}), ParseContext()
        )
        assert out.result is None
        assert out.error
    assert sum(reg.stats.errors.values()) + sum(reg.stats.decrypt_failures.values()) == 4


def test_bthome_repeated_metrics_are_numbered() -> None:
    reg = Registry.default(plugins=False)
    res = reg.parse(
        Advert(MAC, -60, service_data={BTHOME: bytes.fromhex("4002ca0902cf09452c01")}),
        ParseContext(),
    )
    assert res is not None
    assert res.readings == {
        "temperature_c": 25.06,
        "temperature_2_c": 25.11,
        "temperature_3_c": 30.0,
    }


def test_pvvx_and_atc1441_encrypted() -> None:
    reg = Registry.default(plugins=False)
    ctx = ParseContext(bindkeys={MAC: KEY})
    rev = MAC_B[::-1]
    # pvvx: temperature 21.05, humidity 45.5 %, battery 77 %, trigger 0
    plain = (2105).to_bytes(2, "little") + (4550).to_bytes(2, "little") + bytes((77, 0))
    ct, tag = seal(KEY, rev + bytes((14, 0x16, 0x1A, 0x18, 9)), plain, b"\x11")
    res = reg.parse(Advert(MAC, -60, service_data={ATC: bytes((9,)) + ct + tag}), ctx)
    assert res is not None
    assert res.readings == {"temperature_c": 21.05, "humidity_pct": 45.5, "battery_pct": 77}
    # ATC1441: temperature (21.5 + 40) * 2, humidity 45 * 2, battery 88
    ct, tag = seal(KEY, rev + bytes((11, 0x16, 0x1A, 0x18, 3)), bytes((123, 90, 88)), b"\x11")
    res = reg.parse(Advert(MAC, -60, service_data={ATC: bytes((3,)) + ct + tag}), ctx)
    assert res is not None
    assert res.readings == {"temperature_c": 21.5, "humidity_pct": 45.0, "battery_pct": 88}
    wrong = reg.decode(
        Advert(MAC, -60, service_data={ATC: bytes((3,)) + ct + tag}),
        ParseContext(bindkeys={MAC: bytes(16)}),
    )
    assert wrong.decrypt_failed


def test_mibeacon_v5_encrypted_and_plain() -> None:
    reg = Registry.default(plugins=False)
    pid, cnt, ext = b"\x5b\x05", b"\x21", b"\x01\x00\x00"
    plain = bytes.fromhex("0d1004") + (231).to_bytes(2, "little") + (455).to_bytes(2, "little")
    ct, tag = seal(KEY, MAC_B[::-1] + pid + cnt + ext, plain, b"\x11")
    frame = b"\x58\x58" + pid + cnt + MAC_B[::-1] + ct + ext + tag
    res = reg.parse(
        Advert(MAC, -60, service_data={MIBEACON: frame}), ParseContext(bindkeys={MAC: KEY})
    )
    assert res is not None
    assert res.readings == {"temperature_c": 23.1, "humidity_pct": 45.5}
    bad = reg.decode(Advert(MAC, -60, service_data={MIBEACON: frame}), ParseContext())
    assert bad.decrypt_failed
    plain_frame = bytes.fromhex("5020aa01fe") + MAC_B[::-1] + bytes.fromhex("0a1001") + b"\x5d"
    res = reg.parse(Advert(MAC, -60, service_data={MIBEACON: plain_frame}), ParseContext())
    assert res is not None
    assert res.readings == {"battery_pct": 93}
