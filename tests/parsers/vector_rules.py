"""Comparator rules beyond plain value equality (used by ``vectors.py``), and why each exists.

The principle: a vector *matches* when every value the source published from the payload
equals ours.  Some published values are not payload data - the source library computes them by
its own policy (a distance model, a battery curve, a device key), or a published value
contradicts the format's specification, or the vector lost the input its source decoded.  Those
are listed here, each with its reason, and shown in the docs table; nothing is dropped silently.

- ``amend``: the input a vector lost (the raw AD bytes a test passed as ``raw=``; an Eddystone
  URL body published without its frame) is restored from the cited source.
- ``input_missing``: vectors whose asserted values come from input the vector cannot carry
  (GATT notifications, an earlier advert); they are reported as untestable and left out of
  the match rate's denominator.
- ``expects_nothing``: a vector that publishes no payload value ("bad data ignored") matches
  when we report no readings, whether the parser declined or raised (a counted parse error).
- ``pre_compare``: key and value conventions of the sources (``remote.``/``primary.``
  sub-devices, ble_monitor's ``tracker.`` copy, ``"error"`` = flagged invalid = null,
  ``decoded``, the advertiser vs payload MAC, UUID spellings, ``int_of_value_times_100``).
- ``rounding_tol``: a published number matches ours when ours rounds to it at the precision it
  was published with (half a unit of its last digit): the sources round for display.
- ``not_compared``: policy values and specification conflicts, by format or by source test.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from bt_mqtt.parsers import inkbird
from bt_mqtt.parsers.api import ParseContext, ParseResult
from tests.parsers.vector_names import NOT_PAYLOAD

if TYPE_CHECKING:
    from tests.parsers.vector_load import Vector
    from tests.parsers.vectors import Check

STANDARD_GRAVITY = 9.80665
BLE_MONITOR = "custom-components/ble_monitor/"

# Source-library bookkeeping, not payload data.
BOOKKEEPING: frozenset[str] = frozenset(
    {
        "data_fields_count",  # android-beacon-library: how many data fields its layout has
        "vendor",  # ibeacon-ble: the OUI owner of the advertiser address (a lookup table)
        "transient",  # ibeacon-ble: a guess from the local name that the beacon rotates
        "manufacturer",  # ble_monitor: its name for the company ("Other")
        "rssi",  # the envelope's signal strength (ble_monitor's tracker copy)
    }
)

# Published values that are the source's policy, not payload data: (vector format, key) -> why.
FORMAT_NOT_COMPARED: dict[tuple[str, str], str] = {
    ("ibeacon", "distance_m"): (
        "ibeacon-ble's own distance model; the frame carries only the measured power"
    ),
}
_CYPRESS_WHY = (
    "the library applies Cypress's sensor formula to every iBeacon; Cypress defines it for "
    "its sensor UUID only, elsewhere major/minor are identifiers"
)
for _fmt, _keys in (
    ("ibeacon", ("cypress_temperature_c", "cypress_humidity_pct")),
    ("ibeacon", ("cypress temperature", "cypress humidity")),
    ("ble_monitor_ibeacon_parser", ("tracker.cypress temperature", "tracker.cypress humidity")),
):
    FORMAT_NOT_COMPARED.update({(_fmt, k): _CYPRESS_WHY for k in _keys})
for _fmt, _key in (
    ("ruuvitag_v3", "acceleration"),
    ("ruuvitag_v5", "acceleration"),
    ("ruuvi_df03", "acceleration_total_ms2"),
    ("ruuvi_df05", "acceleration_total_ms2"),
):
    FORMAT_NOT_COMPARED[(_fmt, _key)] = "the magnitude of the three axes; we store the axes"
for _fmt in ("ruuvitag_v3", "ruuvitag_v5"):
    FORMAT_NOT_COMPARED[(_fmt, "battery_pct")] = (
        "ble_monitor's battery curve over the voltage; the frame carries only the voltage"
    )
FORMAT_NOT_COMPARED[("ruuvitag_v5", "motion")] = (
    "ble_monitor's motion state from movement-counter changes across adverts"
)
FORMAT_NOT_COMPARED[("ruuvi_df06", "sound_avg_dba")] = (
    "read from byte 14, which the DF6 spec (docs.ruuvi.com) reserves (an earlier draft had a "
    "sound level there); the docs' own complete examples list no sound"
)

# (regex on the source, keys, why): values of one test that are policy or contradict the spec.
SOURCE_NOT_COMPARED: list[tuple[re.Pattern[str], frozenset[str], str]] = [
    (
        re.compile(r"ibeacon-ble/.*::test_ignore_tilt"),
        frozenset({"decoded"}),
        "ibeacon-ble leaves Tilt hydrometers to another integration (policy); the frame is a "
        "well-formed iBeacon, which we decode",
    ),
    (
        re.compile(r"kontakt-beacon-parser/.*TestParseIBeacon"),
        frozenset({"major", "minor"}),
        "kontakt-beacon-parser reads major/minor little-endian; Apple's iBeacon spec sends "
        "them big-endian (01 02 -> 258, 03 04 -> 772)",
    ),
    (
        re.compile(r"ruuvi/docs/.*data-format-6\.md.*'maximum values'"),
        frozenset({"mac"}),
        "the docs' table says 4C:88:4F, the example's raw bytes end 4C 8F 4F (a docs typo)",
    ),
    (
        re.compile(r"beacontools/.*::TestParser\.test_eddystone_tlm_enc@"),
        frozenset({"salt", "mic"}),
        "beacontools reads salt and MIC past the end of the AD structure (its length 0x11 "
        "covers 14 frame bytes); they are not in the frame",
    ),
    (
        re.compile(r"ruuvitag-ble/.*::test_parsing_v5_invalid_acceleration@"),
        frozenset({"acceleration_y_ms2", "acceleration_z_ms2"}),
        "ruuvitag-ble drops all three axes when one is invalid; the spec's sentinel is per axis",
    ),
    (
        re.compile(r"ble_monitor/.*::test_Govee_H5178_sensor_1@"),
        frozenset({"mac"}),
        "ble_monitor keys the H5178's remote sensor by the advertiser MAC + 1",
    ),
    (
        re.compile(r"ble_monitor/.*::test_inkbird_iBBQ_6_probes@"),
        frozenset({"temperature probe 2", "temperature probe 3", "temperature probe 4"}),
        "ble_monitor reports an unplugged iBBQ probe (0xFFF6) as 0 °C; we report no reading",
    ),
]

# (regex on the source, why): the asserted values come from input a vector cannot carry.
INPUT_MISSING: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(r"inkbird-ble/.*::test_iam_t1_multiple_updates_with_broken_packet@"),
        "its values come from GATT notifications; the advert is the IAM-T1's 'AC-6200' id frame",
    ),
    (
        re.compile(r"inkbird-ble/.*::test_tps_multi_entry_dict_without_raw_bails@"),
        "its value comes from an earlier advert the vector omits (this one is ambiguous)",
    ),
]

# (regex on the source, hex): the raw AD bytes the source test passed as ``raw=``, which the
# vector omits (its manufacturer data is a placeholder).  Copied from the cited test.
SUPPLEMENTS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"inkbird-ble/.*::test_raw_manufacturer_data@"), "0afffc07c71200c83d5606"),
    (
        re.compile(r"bluemaestro-ble/.*::test_temp_disc_thd_raw@"),
        "2aff330117640e10000200f201f200830100010d02ab00f201f2010d02ab00f201f200ff024e0000000000",
    ),
    (re.compile(r"bluemaestro-ble/.*::test_temp_disc_thd_raw_missing_data@"), "2aff"),
    (
        re.compile(r"thermobeacon-ble/.*::test_mfr_48_raw@"),
        "15ff300000008b0100005d44d60b5901590344000c00",
    ),
    (re.compile(r"sensorpush-ble/.*::test_ht_w_raw@"), "06ff049ac9a546"),
]

# (regex on the source, text): why a vector we know we miss is missed (added to its reasons).
EXPLAINED_MISSES: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(r"ble_monitor/.*::test_Govee_H5055@"),
        "ble_monitor ignores the H5055's probe-connected bits (0x41: only probe 1) and reports "
        "probes 3-4; we follow govee-ble, whose four H5055 vectors depend on those bits",
    ),
]

# Key spellings of the sources -> (our key, factor on the published value).
ALIASES: dict[str, tuple[str, float]] = {
    "cypress_temperature": ("temperature_c", 1.0),
    "cypress_humidity": ("humidity_pct", 1.0),
    "sensor id": ("sensor_id", 1.0),
    "tx power": ("tx_power_dbm", 1.0),
    "acceleration x": ("acceleration_x_g", 0.001),  # ble_monitor (Ruuvi): milli-g
    "acceleration y": ("acceleration_y_g", 0.001),
    "acceleration z": ("acceleration_z_g", 0.001),
    "acceleration_x_ms2": ("acceleration_x_g", 1 / STANDARD_GRAVITY),
    "acceleration_y_ms2": ("acceleration_y_g", 1 / STANDARD_GRAVITY),
    "acceleration_z_ms2": ("acceleration_z_g", 1 / STANDARD_GRAVITY),
}
FORMAT_ALIASES: dict[tuple[str, str], tuple[str, float]] = {
    ("ruuvitag_v5", "packet_id"): ("measurement_sequence", 1.0),  # ble_monitor's "packet"
}
_PROBE = re.compile(r"^(low )?temperature (alarm )?probe (\d+)$")  # ble_monitor's spelling
_SUBDEVICE = re.compile(r"^(remote|primary)\.(.+)$")  # govee-ble's device ids (H5178)
_INVALID = ("error", "no packet id")  # govee-ble's flagged-invalid value; ble_monitor's none


def amend(obj: dict[str, Any]) -> dict[str, Any]:
    """A vector line with the input its source used restored (see ``SUPPLEMENTS``)."""
    source = str(obj.get("source", ""))
    for pattern, raw in SUPPLEMENTS:
        if pattern.search(source):
            obj = dict(obj, raw_advertisement_hex=raw)
            obj["manufacturer_data"] = manufacturer_data(bytes.fromhex(raw))
    body = obj.get("eddystone_url_body_hex")
    if body and not obj.get("service_data"):
        # The URL part of a frame: wrap it in an Eddystone-URL frame (tx power 0 dBm).  The
        # "complete" expectation covered the URL decoder alone, not the frame's tx power.
        frame = "1000" + str(body)
        obj = dict(obj, service_data={"0000feaa-0000-1000-8000-00805f9b34fb": frame})
        obj["expected_complete"] = False
    return obj


def manufacturer_data(raw: bytes) -> dict[str, str]:
    """Manufacturer-data entries of raw AD structures; a structure cut short keeps its bytes."""
    out: dict[str, str] = {}
    i = 0
    while i + 1 < len(raw):
        ln = raw[i]
        if ln == 0:
            break
        body = raw[i + 2 : i + 1 + ln]
        if raw[i + 1] == 0xFF and len(body) >= 2:
            out[str(int.from_bytes(body[:2], "little"))] = body[2:].hex()
        i += 1 + ln
    return out


def _inkbird_model(ctx: ParseContext, mac: str, raw: dict[str, Any]) -> None:
    inkbird.set_model(ctx, mac, "IBS-TH")


# Configuration a source test handed its decoder, re-created in our context (as
# ``vector_names.CONTEXT_SETUP``): INKBIRDBluetoothDeviceData(Model.IBS_TH).
CONTEXT_SETUP: list[tuple[re.Pattern[str], Callable[[ParseContext, str, dict[str, Any]], None]]] = [
    (re.compile(r"inkbird-ble/.*::test_corrupt_name\["), _inkbird_model),
]


def input_missing(vector: Vector) -> str | None:
    """Why the vector cannot be tested, or None."""
    return next((why for pat, why in INPUT_MISSING if pat.search(vector.source)), None)


def not_compared(vector: Vector, key: str) -> str | None:
    """Why a published value of this vector is not compared, or None."""
    why = FORMAT_NOT_COMPARED.get((vector.format, key))
    if why is not None:
        return why
    for pattern, keys, reason in SOURCE_NOT_COMPARED:
        if key in keys and pattern.search(vector.source):
            return reason
    return None


def skipped(key: str) -> bool:
    """Bookkeeping keys (ours and ``vector_names.NOT_PAYLOAD``)."""
    return key in BOOKKEEPING or key in NOT_PAYLOAD


def expects_nothing(vector: Vector) -> bool:
    """True when the vector publishes no payload value (nothing, null, "error", not decoded)."""
    for key, want in vector.expected.items():
        if skipped(key) or not_compared(vector, key) is not None:
            continue
        if want is None or want in _INVALID or (key == "decoded" and want is False):
            continue
        if isinstance(want, dict) and not want:
            continue
        return False
    return True


def alias(vector: Vector, key: str) -> tuple[str, float] | None:
    """Our key and the factor for a source spelling handled here, or None."""
    hit = FORMAT_ALIASES.get((vector.format, key)) or ALIASES.get(key)
    if hit is not None:
        return hit
    m = _PROBE.match(key)
    if m:
        low, alarm, n = m.groups()
        return f"{'low_' if low else ''}temperature_{'alarm_' if alarm else ''}probe_{n}_c", 1.0
    return None


def rounding_tol(want: Any, scale: float) -> float | None:
    """Half a unit of the published value's last digit (scaled), or None for non-numbers."""
    if isinstance(want, bool) or not isinstance(want, int | float):
        return None
    text = repr(want)
    if "e" in text or "inf" in text or "nan" in text:
        return None
    decimals = len(text.partition(".")[2])
    return 0.5 * 10.0**-decimals * abs(scale)


def _hexid(text: Any) -> str:
    return str(text).replace("-", "").replace(":", "").lower()


def pre_compare(
    vector: Vector, result: ParseResult, key: str, want: Any
) -> tuple[str, Any, str | None, bool]:
    """Source conventions applied before the plain comparison.

    Returns ``(key, want, reason, done)``: when ``done``, ``reason`` is the verdict (None =
    match); otherwise the comparison goes on with the returned key and value.
    """
    if key.startswith("tracker."):  # ble_monitor's device-tracker copy of the same values
        key = key[len("tracker.") :]
    m = _SUBDEVICE.match(key)
    if m:
        sub, key = m.groups()
        have = result.facts.get("sub_device")
        if have != sub:
            return key, want, f"{m.group(0)}: want the {sub} sensor, got {have!r}", True
    if skipped(key):
        return key, want, None, True
    if isinstance(want, str) and want in _INVALID:
        want = None
    if key == "decoded":  # we are here only with a result
        return key, want, None if want else f"decoded: want no decode, got {result.parser}", True
    if key == "mac":
        return key, want, _compare_mac(vector, result, want), True
    if key in ("uuid", "tracker_id") and isinstance(want, str):
        text = want
        if want.startswith(("b'", 'b"')):  # a Python bytes literal (ble_monitor's tracker_id)
            text = ast.literal_eval(want).hex()
        have = result.facts.get("uuid")
        ok = have is not None and _hexid(have) == _hexid(text)
        return key, want, None if ok else f"{key}: want {want!r}, got uuid {have!r}", True
    if isinstance(want, dict) and "int_of_value_times_100" in want:
        ours = (alias(vector, key) or (key, 1.0))[0]
        got = result.readings.get(ours)
        ok = got is not None and int(got * 100) == want["int_of_value_times_100"]
        return key, want, None if ok else f"{key}: want {want}, got {ours}={got!r}", True
    if key == "properties" and isinstance(want, dict):  # beacontools: sub-fields, as facts
        bad = [f"{k}: want {v!r}, got {result.facts.get(k)!r}" for k, v in want.items()
               if str(result.facts.get(k)) != str(v)]  # fmt: skip
        return key, want, f"{key}: {'; '.join(bad)}" if bad else None, True
    return key, want, None, False


def _compare_mac(vector: Vector, result: ParseResult, want: Any) -> str | None:
    """ble_monitor's ``mac`` is the advertiser address it keys devices by; elsewhere ``mac``
    is the payload's MAC field, and null means the field says "not available"."""
    payload_mac = result.facts.get("mac")
    if isinstance(want, str) and want and not want.replace(":", "").upper().strip("F"):
        want = None  # Ruuvi's all-ones "not available" MAC, published as bytes by some sources
    if want is None:
        return None if payload_mac is None else f"mac: want not available, got {payload_mac}"
    have = vector.advert.mac if vector.source.startswith(BLE_MONITOR) else payload_mac
    have = have or vector.advert.mac
    return None if _hexid(have) == _hexid(want) else f"mac: want {want}, got {have}"


def explain(chk: Check) -> None:
    """Add the known explanation to a missed vector's reasons."""
    if chk.ok:
        return
    for pattern, text in EXPLAINED_MISSES:
        if pattern.search(chk.vector.source):
            chk.reasons.append(f"(known: {text})")


def match_rate(checks: Iterable[Check]) -> tuple[int, int, int]:
    """(matching, testable, untestable) over ``checks``."""
    ok = testable = untestable = 0
    for c in checks:
        if getattr(c, "untestable", None):
            untestable += 1
            continue
        testable += 1
        ok += bool(c.ok)
    return ok, testable, untestable
