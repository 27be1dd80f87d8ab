"""Fuzz: Device1 properties as a misbehaving bluetoothd could send them, through the bluez
backend's message handler (InterfacesAdded, then PropertiesChanged signals, as dbus-fast hands
them over) and the pipeline.

Every property is either of the type BlueZ documents or anything D-Bus can carry (wrong types,
nested variants, huge arrays, strings with quotes, backslashes, control characters or lone
surrogates, UUIDs in odd spellings).  A model written here from the documented rules says what
the device's advert must be after each signal; every advert the backend emits must equal it,
every payload the pipeline publishes must read back (strictly) as that advert, and every value
that is not valid must be counted, never published.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from dbus_fast import Message, Variant
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bt_mqtt.agent.backends.bluez import BluezBackend
from bt_mqtt.agent.config import FiltersConfig
from bt_mqtt.agent.dedup import Dedup
from bt_mqtt.agent.filters import Filter
from bt_mqtt.agent.pipeline import MAX_PAYLOAD_BYTES, Pipeline
from bt_mqtt.core import wire
from bt_mqtt.core.advert import Advert
from tests.agent.wire_checks import strict_decode

ADAPTER = "/org/bluez/hci0"
DEVICE = "org.bluez.Device1"
PROPS = "org.freedesktop.DBus.Properties"
OM = "org.freedesktop.DBus.ObjectManager"
SUFFIX = "-0000-1000-8000-00805f9b34fb"
ADVERT_KEYS = {"RSSI", "ManufacturerData", "ServiceData", "TxPower", "Name", "UUIDs"}
ADVERT_KEYS.add("AdvertisingFlags")
FLAGS = ("Paired", "Bonded", "Trusted", "Connected")
HEXDIGITS = frozenset("0123456789abcdefABCDEF")

HOSTILE = [
    '","mac":"EE:EE:EE:EE:EE:EE","x":"',
    '76":"00","mac":"EE:EE:EE:EE:EE:EE',
    "\\",
    '"',
    "\x1b]0;PWN\x07",
    "\x00",
    "\u2028\u2029",
    "loud",
    "NaN",
    "ﬀ:ﬀ:ﬀ:ﬀ:ﬀ:ﬀ",
    "\u0661\u0662\u0663\u0664",
    "0000FCD2-0000-1000-8000-00805F9B34FB\n",
]

# -- strategies: values in the documented type, and anything else -----------------------------
texts = st.one_of(
    st.text(max_size=30),
    st.sampled_from(HOSTILE),
    st.text(st.characters(max_codepoint=0x20) | st.sampled_from('"\\'), max_size=12),
    st.tuples(st.text(max_size=5), st.integers(0xD800, 0xDFFF), st.text(max_size=5)).map(
        lambda t: t[0] + chr(t[1]) + t[2]
    ),
    st.tuples(st.integers(240, 260), st.sampled_from("xé")).map(lambda t: t[1] * t[0]),
)
huge = st.just(MAX_PAYLOAD_BYTES + 1).map(lambda n: b"\xab" * n)
datas = st.one_of(st.binary(max_size=31), st.binary(max_size=31), huge)
uuid_spellings = st.one_of(
    st.uuids().map(str),
    st.uuids().map(lambda u: str(u).upper()),
    st.integers(0, 0xFFFF).map(lambda v: f"{v:04x}"),
    st.integers(0, 0xFFFF).map(lambda v: f"{v:04X}"),
    st.integers(0, 2**32 - 1).map(lambda v: f"{v:08x}"),
)
macs = st.lists(st.integers(0, 255), min_size=6, max_size=6).flatmap(
    lambda bs: st.sampled_from([":".join(f"{b:02X}" for b in bs), ":".join(f"{b:02x}" for b in bs)])
)


def _v(sig: str) -> Callable[[Any], Variant]:
    return lambda value: Variant(sig, value)


scalars = st.one_of(
    st.integers(-(2**15), 2**15 - 1).map(_v("n")),
    st.integers(0, 2**16 - 1).map(_v("q")),
    st.integers(-(2**31), 2**31 - 1).map(_v("i")),
    st.integers(-(2**63), 2**63 - 1).map(_v("x")),
    st.integers(0, 2**64 - 1).map(_v("t")),
    st.integers(0, 255).map(_v("y")),
    st.floats().map(_v("d")),
    st.booleans().map(_v("b")),
    texts.map(_v("s")),
    datas.map(_v("ay")),
)
anything = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(texts | uuid_spellings, max_size=4).map(_v("as")),
        st.dictionaries(st.integers(0, 0xFFFF), inner, max_size=3).map(_v("a{qv}")),
        st.dictionaries(texts | uuid_spellings, inner, max_size=3).map(_v("a{sv}")),
        inner.map(_v("v")),
    ),
    max_leaves=6,
)
data_variants = st.one_of(datas.map(_v("ay")), datas.map(_v("ay")), anything)
documented: dict[str, st.SearchStrategy[Variant]] = {
    "RSSI": st.integers(-128, 127).map(_v("n")),
    "TxPower": st.integers(-128, 127).map(_v("n")),
    "Name": texts.map(_v("s")),
    "Address": macs.map(_v("s")),
    "AddressType": st.sampled_from(["public", "random"]).map(_v("s")),
    "ManufacturerData": st.dictionaries(st.integers(0, 0xFFFF), data_variants, max_size=3).map(
        _v("a{qv}")
    ),
    "ServiceData": st.dictionaries(uuid_spellings | texts, data_variants, max_size=3).map(
        _v("a{sv}")
    ),
    "UUIDs": st.lists(uuid_spellings | texts, max_size=4).map(_v("as")),
    "Paired": st.booleans().map(_v("b")),
    "Alias": texts.map(_v("s")),
    "AdvertisingFlags": datas.map(_v("ay")),
}
mostly_documented = {key: st.one_of(s, s, s, anything) for key, s in documented.items()}
properties = st.one_of(
    st.fixed_dictionaries(
        {"RSSI": mostly_documented["RSSI"]},
        optional={k: v for k, v in mostly_documented.items() if k != "RSSI"},
    ),
    st.fixed_dictionaries({}, optional=mostly_documented),
    st.dictionaries(texts, anything, max_size=2),
)
invalidations = st.lists(
    st.sampled_from(["RSSI", "TxPower", "Name", "ManufacturerData", "ServiceData", "Foo"]),
    max_size=2,
)
good_paths = macs.map(lambda m: "dev_" + m.replace(":", "_"))
paths = st.one_of(
    good_paths,
    good_paths,
    good_paths,
    st.sampled_from(["dev_ZZ_00_00_00_00_00", "dev_00_00_00", "dev_", "something_else"]),
)


# -- the model: the documented rules, written independently of the code under test -------------
def canon_uuid(text: object) -> str | None:
    if type(text) is not str:
        return None
    parts = text.split("-")
    hexes = all(c in HEXDIGITS for c in text.replace("-", ""))
    if [len(p) for p in parts] == [8, 4, 4, 4, 12] and hexes:
        return text.lower()
    if len(text) in (4, 8) and hexes:
        return text.lower().rjust(8, "0") + SUFFIX
    return None


def canon_mac(text: object) -> str | None:
    if type(text) is not str or len(text) != 17 or text[2::3] != ":" * 5:
        return None
    digits = text.replace(":", "")
    return text.upper() if len(digits) == 12 and all(c in HEXDIGITS for c in digits) else None


def dbm(value: object) -> int | None:
    return value if type(value) is int and -128 <= value <= 127 else None


def valid_name(value: object) -> bool:
    if type(value) is not str:
        return False
    try:
        return len(value.encode()) <= 248
    except UnicodeEncodeError:
        return False


def is_data(x: object) -> bool:
    return type(x) is Variant and type(x.value) is bytes


class Model:
    """What one device's advert must be, and how many bad values it must have counted."""

    def __init__(self, path: str) -> None:
        self.mac = canon_mac(path.removeprefix("dev_").replace("_", ":"))
        self.rssi: int | None = None
        self.tx: int | None = None
        self.name: str | None = None
        self.at: str | None = None
        self.mfr: dict[int, bytes] = {}
        self.svc: dict[str, bytes] = {}
        self.uuids: list[str] = []

    def apply(self, props: dict[str, Variant]) -> int:
        """Apply ``props``; the number of bad values among them."""
        bad = 0
        for key, variant in props.items():
            value = variant.value
            ok = True
            if key in ("RSSI", "TxPower"):
                v = dbm(value)
                ok = v is not None
                if ok:
                    setattr(self, "rssi" if key == "RSSI" else "tx", v)
            elif key == "Name":
                ok = valid_name(value)
                if ok:
                    self.name = value
            elif key == "Address":
                mac = canon_mac(value)
                ok = mac is not None
                if ok:
                    self.mac = mac
            elif key == "AddressType":
                ok = value in ("public", "random") and type(value) is str
                if ok:
                    self.at = value
            elif key == "ManufacturerData":
                ok = type(value) is dict
                if ok:
                    good = {
                        k: x.value
                        for k, x in value.items()
                        if type(k) is int and 0 <= k <= 0xFFFF and is_data(x)
                    }
                    ok = len(good) == len(value)
                    self.mfr = good
            elif key == "ServiceData":
                ok = type(value) is dict
                if ok:
                    svc: dict[str, bytes] = {}
                    for k, x in value.items():
                        u = canon_uuid(k)
                        if u is None or not is_data(x):
                            ok = False
                        else:
                            svc[u] = x.value
                    self.svc = svc
            elif key == "UUIDs":
                ok = type(value) is list
                if ok:
                    us = [canon_uuid(u) for u in value]
                    ok = None not in us
                    self.uuids = list(dict.fromkeys(u for u in us if u is not None))
            elif key in FLAGS:
                ok = type(value) is bool
            bad += not ok
        return bad

    def invalidate(self, names: list[str]) -> None:
        for key in names:
            if key == "RSSI":
                self.rssi = None
            elif key == "TxPower":
                self.tx = None
            elif key == "Name":
                self.name = None
            elif key == "ManufacturerData":
                self.mfr = {}
            elif key == "ServiceData":
                self.svc = {}

    def advert(self) -> Advert:
        assert self.mac is not None and self.rssi is not None
        return Advert(
            self.mac, self.rssi, self.at, self.tx, self.name, self.mfr, self.svc, self.uuids
        )


class Harness:
    """The backend's message handler (no bus needed) and a pipeline that publishes every advert."""

    def __init__(self) -> None:
        self.backend = BluezBackend(adapter="hci0", mode="passive")
        self.backend._adapter_path = ADAPTER
        self.got: list[Advert] = []
        self.backend._sink = self.got.append
        self.pipe = Pipeline("pi", "0123456789abcdef", Filter(FiltersConfig()), Dedup(0, 0, 10))
        self.clock = itertools.count(1)
        self.too_large = 0

    def signal(self, path: str, iface: str, member: str, sig: str, body: list[Any]) -> None:
        self.backend._on_message(Message.new_signal(path, iface, member, sig, body))

    def publish_and_check(self, expected: Advert) -> None:
        """The advert the backend just emitted must be ``expected``; so must its payload."""
        advert = self.got[-1]
        assert advert == expected
        payload = self.pipe.offer(advert, float(next(self.clock)), 1.8e9, True)
        size = len(wire.encode(expected, "pi", "0123456789abcdef", 1, wire.format_ts(1.8e9)))
        if size > MAX_PAYLOAD_BYTES:
            assert payload is None
            self.too_large += 1
            event("too large: dropped")
        else:
            assert payload is not None
            assert strict_decode(payload, "pi").advert == expected
            event("published")
        assert self.pipe.counters.dropped_invalid == self.too_large


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    paths,
    properties,
    st.lists(st.tuples(properties, invalidations), max_size=3),
)
def test_hostile_properties_are_published_valid_or_counted(
    path_tail: str,
    first: dict[str, Variant],
    changes: list[tuple[dict[str, Variant], list[str]]],
) -> None:
    h = Harness()
    path = f"{ADAPTER}/{path_tail}"
    model = Model(path_tail)
    bad = model.apply(first)
    stored = model.mac is not None
    if not stored and "Address" not in first:
        bad += 1  # no valid address at all: the device is refused, counted once
    h.signal("/", OM, "InterfacesAdded", "oa{sa{sv}}", [path, {DEVICE: first}])
    emitted = stored and model.rssi is not None
    assert len(h.got) == emitted
    if emitted:
        h.publish_and_check(model.advert())
    for changed, invalidated in changes:
        before = len(h.got)
        h.signal(path, PROPS, "PropertiesChanged", "sa{sv}as", [DEVICE, changed, invalidated])
        if not stored:  # unknown and still without an address: refused again, counted
            bad += 1
            assert len(h.got) == before
            continue
        bad += model.apply(changed)
        model.invalidate(invalidated)
        emitted = bool(ADVERT_KEYS.intersection(changed)) and model.rssi is not None
        assert len(h.got) == before + emitted
        if emitted:
            h.publish_and_check(model.advert())
    assert h.backend.stats.bluez_errors == bad
    event(f"bad values counted: {min(bad, 5)}")


def test_signals_with_other_argument_types_are_ignored_and_counted() -> None:
    h = Harness()
    path = f"{ADAPTER}/dev_C0_FF_EE_00_00_01"
    h.signal(path, PROPS, "PropertiesChanged", "s", [DEVICE])
    h.signal(path, PROPS, "PropertiesChanged", "sa{sv}", [DEVICE, {"RSSI": Variant("n", -5)}])
    h.signal("/", OM, "InterfacesAdded", "os", [path, DEVICE])
    h.signal("/", OM, "InterfacesRemoved", "o", [path])
    assert h.got == [] and h.backend.stats.bluez_errors == 4
    h.signal(path, PROPS, "PropertiesChanged", "sa{sv}as", [DEVICE, {"RSSI": Variant("n", -5)}, []])
    assert h.got == [Advert("C0:FF:EE:00:00:01", -5)]


def _state(h: Harness, path: str) -> tuple[Any, ...] | None:
    """Everything the backend keeps about the device at ``path`` (None: not kept)."""
    dev = h.backend._cache.devices.get(path)
    if dev is None:
        return None
    fields = (dev.mac, dev.rssi, dev.address_type, dev.tx_power, dev.name, dev.mfr, dev.svc)
    return (*fields, dev.uuids, dev.flags)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(good_paths, properties, st.lists(st.tuples(properties, invalidations), max_size=2))
def test_interfaces_added_and_properties_changed_read_properties_alike(
    path_tail: str,
    props: dict[str, Variant],
    later: list[tuple[dict[str, Variant], list[str]]],
) -> None:
    """The same Device1 properties make the same device, the same advert and the same count of
    bad values whether BlueZ announces them with the device (InterfacesAdded, the path
    GetManagedObjects shares) or as a change to a device it announced bare (PropertiesChanged,
    the hot path); and so do the changes that follow."""
    path = f"{ADAPTER}/{path_tail}"
    added, changed = Harness(), Harness()
    added.signal("/", OM, "InterfacesAdded", "oa{sa{sv}}", [path, {DEVICE: props}])
    changed.signal("/", OM, "InterfacesAdded", "oa{sa{sv}}", [path, {DEVICE: {}}])
    changed.signal(path, PROPS, "PropertiesChanged", "sa{sv}as", [DEVICE, props, []])
    assert _state(added, path) == _state(changed, path)
    assert added.got == changed.got
    assert added.backend.stats.bluez_errors == changed.backend.stats.bluez_errors
    for update, invalidated in later:
        for h in (added, changed):
            h.signal(path, PROPS, "PropertiesChanged", "sa{sv}as", [DEVICE, update, invalidated])
        assert _state(added, path) == _state(changed, path)
        assert added.got == changed.got
        assert added.backend.stats.bluez_errors == changed.backend.stats.bluez_errors


def test_a_change_of_the_wrong_type_is_counted_not_raised() -> None:
    """Mistyped ManufacturerData or ServiceData in a PropertiesChanged: the field keeps its last
    good value, the rest of the change applies, the value is counted in bluez_errors."""
    h = Harness()
    path = f"{ADAPTER}/dev_C0_FF_EE_00_00_02"
    good = {
        "RSSI": Variant("n", -50),
        "ManufacturerData": Variant("a{qv}", {1: Variant("ay", b"a")}),
    }
    h.signal(path, PROPS, "PropertiesChanged", "sa{sv}as", [DEVICE, good, []])
    assert h.got[-1].manufacturer_data == {1: b"a"}
    for bad in (
        Variant("s", "0102"),  # not a map: the last good value stays
        Variant("v", Variant("ay", b"\x01")),
        Variant("a{qv}", {1: Variant("s", "01")}),  # a map: its valid entries (none) apply
        Variant("a{sv}", {"1": Variant("ay", b"x")}),
    ):
        change = {"RSSI": Variant("n", -51), "ManufacturerData": bad}
        h.signal(path, PROPS, "PropertiesChanged", "sa{sv}as", [DEVICE, change, []])
        assert h.got[-1].rssi == -51
    assert [a.manufacturer_data for a in h.got[1:]] == [{1: b"a"}, {1: b"a"}, {}, {}]
    assert h.backend.stats.bluez_errors == 4


def test_service_data_uuids_are_lower_case_whatever_the_path() -> None:
    """BlueZ may spell a service-data UUID in upper case: published in the wire form (128-bit,
    lower case) the first time and every time after, through either path."""
    h = Harness()
    upper = "0000FCD3-0000-1000-8000-00805F9B34FB"  # a spelling no other test uses first
    lower = upper.lower()
    path = f"{ADAPTER}/dev_C0_FF_EE_00_00_03"
    change = {
        "RSSI": Variant("n", -50),
        "ServiceData": Variant("a{sv}", {upper: Variant("ay", b"\x01")}),
    }
    for _ in range(2):
        h.signal(path, PROPS, "PropertiesChanged", "sa{sv}as", [DEVICE, change, []])
    other = f"{ADAPTER}/dev_C0_FF_EE_00_00_04"
    h.signal("/", OM, "InterfacesAdded", "oa{sa{sv}}", [other, {DEVICE: change}])
    assert [list(a.service_data) for a in h.got] == [[lower]] * 3
    assert h.backend.stats.bluez_errors == 0
