"""ATC1441 and pvvx custom firmware for Xiaomi thermometers (service data 0x181A).

Told apart by length:
- 13 bytes, ATC1441: MAC (big endian), temperature int16 BE x0.1 °C, humidity % (u8),
  battery % (u8), battery mV uint16 BE, frame counter.
- 15 bytes, pvvx "custom": MAC (little endian), temperature int16 LE x0.01, humidity uint16
  LE x0.01, battery mV uint16 LE, battery %, frame counter, flags.
- 8 bytes, ATC1441 encrypted, and 11 bytes, pvvx encrypted: counter byte, AES-CCM ciphertext,
  4-byte tag; nonce = MAC (little endian) + the AD header (length, 0x16, 0x1A, 0x18) + counter;
  associated data 0x11.  Plaintext: ATC1441 temperature u8/2-40, humidity u8/2, battery % (bit
  7 is a trigger flag); pvvx temperature int16 x0.01, humidity uint16 x0.01, battery %, trigger.
"""

from __future__ import annotations

import logging
from struct import Struct
from typing import ClassVar, Final

from bt_mqtt.core.advert import Advert
from bt_mqtt.core.bluetooth import mac_bytes
from bt_mqtt.parsers.api import ParseContext, ParseError, ParseResult
from bt_mqtt.parsers.ccm import decrypt

log = logging.getLogger(__name__)

UUID: Final = "0000181a-0000-1000-8000-00805f9b34fb"
_ATC = Struct(">6shBBHB")
_PVVX = Struct("<6shHHBBB")
_PVVX_PLAIN = Struct("<hHBB")


class ATCParser:
    """ATC1441 and pvvx firmware, plain and encrypted (keys from ``ctx.bindkeys``)."""

    name: ClassVar[str] = "atc"
    company_ids: ClassVar[tuple[int, ...]] = ()
    service_uuids: ClassVar[tuple[str, ...]] = (UUID,)
    name_patterns: ClassVar[tuple[str, ...]] = ()
    priority: ClassVar[int] = 5

    def parse(self, advert: Advert, ctx: ParseContext) -> ParseResult | None:
        data = advert.service_data.get(UUID)
        if data is None:
            return None
        n = len(data)
        if n == 13:
            _, temp, hum, batt, mv, count = _ATC.unpack(data)
            return ParseResult(
                self.name,
                {
                    "temperature_c": temp / 10,
                    "humidity_pct": hum,
                    "battery_pct": batt,
                    "voltage_v": mv / 1000,
                },
                {"firmware": "atc1441", "packet_id": count},
            )
        if n == 15:
            _, temp, hum, mv, batt, count, flags = _PVVX.unpack(data)
            return ParseResult(
                self.name,
                {
                    "temperature_c": temp / 100,
                    "humidity_pct": hum / 100,
                    "battery_pct": batt,
                    "voltage_v": mv / 1000,
                },
                {"firmware": "pvvx", "packet_id": count, "flags": flags},
            )
        if n in (8, 11):
            return self._encrypted(advert, ctx, data)
        if n == 0:
            raise ParseError("empty 0x181A service data")
        return None  # another 0x181A user (Environmental Sensing service data)

    def _encrypted(self, advert: Advert, ctx: ParseContext, data: bytes) -> ParseResult:
        header = bytes((len(data) + 3, 0x16, 0x1A, 0x18))
        nonce = mac_bytes(advert.mac)[::-1] + header + data[:1]
        plain = decrypt(ctx.bindkeys.get(advert.mac), nonce, data[1:-4], data[-4:], b"\x11")
        facts: dict[str, object] = {"packet_id": data[0], "encrypted": True}
        if len(data) == 8:
            facts["firmware"] = "atc1441"
            readings = {
                "temperature_c": plain[0] / 2 - 40,
                "humidity_pct": plain[1] / 2,
                "battery_pct": plain[2] & 0x7F,
            }
            facts["trigger"] = plain[2] >> 7
        else:
            temp, hum, batt, trigger = _PVVX_PLAIN.unpack(plain)
            facts["firmware"] = "pvvx"
            facts["trigger"] = trigger
            readings = {"temperature_c": temp / 100, "humidity_pct": hum / 100, "battery_pct": batt}
        return ParseResult(self.name, readings, facts)
