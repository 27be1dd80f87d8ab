"""The MQTT codec byte for byte, with no broker: the specifications' own examples and layouts,
gmqtt's builders as a second opinion, and round trips of generated packets."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import gmqtt
import pytest
from gmqtt.mqtt.constants import MQTTCommands
from gmqtt.mqtt.package import CommandWithMidPacket, PublishPacket
from gmqtt.mqtt.utils import IdGenerator
from hypothesis import given
from hypothesis import strategies as st

from bt_mqtt.core.mqttcodec import (
    CORRELATION_DATA,
    MESSAGE_EXPIRY,
    MQTT5,
    MQTT311,
    REASON_STRING,
    SUBSCRIPTION_ID,
    TOPIC_ALIAS,
    USER_PROPERTY,
    MalformedPacket,
    Puback,
    Publish,
    PublishTemplate,
    decode_properties,
    decode_puback,
    decode_publish,
    decode_vbi,
    encode_properties,
    encode_puback,
    encode_publish,
    encode_vbi,
    split_packet,
    split_publish,
    topic_alias_of,
)

H = bytes.fromhex

# MQTT 3.1.1 table 2.4 / MQTT 5.0 1.5.5: the edges of each length, and 321 from the prose
VBI_VECTORS = [
    (0, "00"),
    (64, "40"),
    (127, "7f"),
    (128, "8001"),
    (321, "c102"),
    (16_383, "ff7f"),
    (16_384, "808001"),
    (2_097_151, "ffff7f"),
    (2_097_152, "80808001"),
    (268_435_455, "ffffff7f"),
]


@pytest.mark.parametrize(("value", "wire"), VBI_VECTORS)
def test_variable_byte_integer_vectors(value: int, wire: str) -> None:
    assert encode_vbi(value) == H(wire)
    assert decode_vbi(H(wire) + b"\xaa", 0) == (value, len(H(wire)))
    assert decode_vbi(b"\xaa" + H(wire), 1) == (value, 1 + len(H(wire)))


@pytest.mark.parametrize("value", [-1, 268_435_456])
def test_variable_byte_integer_range(value: int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        encode_vbi(value)


@pytest.mark.parametrize(
    ("wire", "why"),
    [
        ("ffffffff7f", "longer than four"),
        ("80", "ends inside"),
        ("ffff", "ends inside"),
        ("", "ends inside"),
        ("8000", "shortest form"),
        ("ff8000", "shortest form"),
    ],
)
def test_variable_byte_integer_malformed(wire: str, why: str) -> None:
    with pytest.raises(MalformedPacket, match=why):
        decode_vbi(H(wire))


@given(st.integers(0, 268_435_455))
def test_variable_byte_integer_round_trip(value: int) -> None:
    wire = encode_vbi(value)
    assert decode_vbi(wire) == (value, len(wire))
    assert wire[-1] < 0x80 and all(b >= 0x80 for b in wire[:-1])


# -- PUBLISH -----------------------------------------------------------------------------------

# (message, version, whole packet in hex): MQTT 3.1.1 3.3.2.3's example variable header
# (topic "a/b", packet id 10) with payload "hi", then each flag and the 5.0 property block.
PUBLISH_VECTORS: list[tuple[Publish, int, str]] = [
    (Publish(b"a/b", b"hi", qos=1, packet_id=10), MQTT311, "3209 0003612f62 000a 6869"),
    (Publish(b"a/b", b"hi", qos=1, packet_id=10), MQTT5, "320a 0003612f62 000a 00 6869"),
    (Publish(b"a/b", b"hi"), MQTT311, "3007 0003612f62 6869"),
    (Publish(b"a/b", b"hi"), MQTT5, "3008 0003612f62 00 6869"),
    (Publish(b"a/b", b"", retain=True), MQTT311, "3105 0003612f62"),
    (
        Publish(b"a/b", b"x", qos=1, packet_id=1, retain=True, dup=True),
        MQTT311,
        "3b08 0003612f62 0001 78",
    ),
    (Publish(b"a/b", b"x", qos=2, packet_id=65535, dup=True), MQTT5, "3c09 0003612f62 ffff 00 78"),
    # an empty topic name standing for topic alias 5
    (Publish(b"", b"hi", properties=((TOPIC_ALIAS, 5),)), MQTT5, "3008 0000 03 230005 6869"),
    (
        Publish(
            b"t",
            b"",
            qos=1,
            packet_id=2,
            properties=((MESSAGE_EXPIRY, 60), (USER_PROPERTY, ("k", "v"))),
        ),
        MQTT5,
        "3212 000174 0002 0c 020000003c 2600016b000176",
    ),
    (Publish(b"t", b"", properties=((SUBSCRIPTION_ID, 128),)), MQTT5, "3007 000174 03 0b8001"),
    (
        Publish(b"t", b"", properties=((CORRELATION_DATA, b"\x00\xff"),)),
        MQTT5,
        "3009 000174 05 090002 00ff",
    ),
]


def _hex(s: str) -> bytes:
    return H(s.replace(" ", ""))


@pytest.mark.parametrize(("msg", "version", "wire"), PUBLISH_VECTORS)
def test_publish_vectors(msg: Publish, version: int, wire: str) -> None:
    packet = _hex(wire)
    assert encode_publish(msg, version) == packet
    cmd, body = split_packet(packet)
    assert decode_publish(cmd, body, version) == msg
    topic, packet_id, props, payload = split_publish(cmd, body, version)
    assert (topic, packet_id, payload) == (msg.topic, msg.packet_id, msg.payload)
    assert decode_properties(props) == list(msg.properties)


def _gmqtt_publish(msg: Publish, version: int, **props: Any) -> bytes:
    """gmqtt's own builder, for a second opinion; its id allocator starts at 1."""
    gm = gmqtt.Message(msg.topic, msg.payload, qos=msg.qos, retain=msg.retain, **props)
    gm.dup = msg.dup
    protocol = SimpleNamespace(proto_ver=version, id_generator=IdGenerator())
    _mid, packet = PublishPacket.build_package(gm, protocol)
    return bytes(packet)


@pytest.mark.parametrize("version", [MQTT311, MQTT5])
@pytest.mark.parametrize("size", [0, 1, 120, 121, 16_370, 16_371, 2_097_140, 2_097_141])
@pytest.mark.parametrize(("qos", "retain"), [(0, False), (1, False), (1, True), (2, False)])
def test_publish_matches_gmqtt(version: int, size: int, qos: int, retain: bool) -> None:
    """Across every remaining-length size (the sizes straddle 1/2, 2/3 and 3/4 bytes)."""
    msg = Publish(b"bt-mqtt/raw/x", b"p" * size, qos=qos, packet_id=1 if qos else 0, retain=retain)
    assert encode_publish(msg, version) == _gmqtt_publish(msg, version)


def test_publish_properties_match_gmqtt() -> None:
    msg = Publish(
        b"a/b",
        b"{}",
        qos=1,
        packet_id=1,
        properties=((MESSAGE_EXPIRY, 60), (TOPIC_ALIAS, 3), (USER_PROPERTY, ("k", "v"))),
    )
    ref = _gmqtt_publish(
        msg, MQTT5, message_expiry_interval=60, topic_alias=3, user_property=[("k", "v")]
    )
    assert encode_publish(msg, MQTT5) == ref
    assert decode_publish(*split_packet(ref), MQTT5) == msg


@pytest.mark.parametrize("version", [MQTT311, MQTT5])
@pytest.mark.parametrize("size", [0, 100, 114, 115, 16_368, 16_369, 2_097_136, 2_097_137])
def test_template_is_encode_publish(version: int, size: int) -> None:
    template = PublishTemplate(b"bt-mqtt/raw/kitchen", version)
    payload = bytes(range(256)) * (size // 256) + b"z" * (size % 256)
    ref = encode_publish(Publish(template.topic, payload, qos=1, packet_id=513), version)
    assert template.encode(payload, 513) == ref
    assert template.encode_many([payload], iter([513])) == [(513, ref)]
    dup = encode_publish(Publish(template.topic, payload, qos=1, packet_id=7, dup=True), version)
    assert template.encode(payload, 7, dup=True) == dup
    qos0 = PublishTemplate(template.topic, version, qos=0, retain=True)
    assert qos0.encode(payload) == encode_publish(
        Publish(template.topic, payload, retain=True), version
    )


def test_template_takes_only_the_ids_it_uses() -> None:
    template = PublishTemplate(b"t", MQTT5)
    ids = iter([5, 6, 7, 8])
    got = template.encode_many([b"a", b"b"], ids)
    assert [mid for mid, _ in got] == [5, 6]
    assert next(ids) == 7  # the third id was not drawn
    assert [mid for mid, _ in template.encode_many([b"a", b"b", b"c"], iter([9]))] == [9]


@pytest.mark.parametrize(
    ("kwargs", "version", "why"),
    [
        ({"qos": 3}, MQTT5, "QoS 3"),
        ({"qos": 1}, MQTT5, "packet id 0"),
        ({"qos": 1, "packet_id": 65536}, MQTT5, "packet id 65536"),
        ({"packet_id": 1}, MQTT5, "no packet id"),
        ({"dup": True}, MQTT5, "DUP"),
        ({"topic": b"a/+"}, MQTT5, "wildcard"),
        ({"topic": b"a/#"}, MQTT5, "wildcard"),
        ({"topic": b"\xff"}, MQTT5, "UTF-8"),
        ({"topic": b"a\x00"}, MQTT5, "U\\+0000"),
        ({"properties": ((USER_PROPERTY, ("k", "\x00")),)}, MQTT5, "U\\+0000"),
        ({"topic": b""}, MQTT5, "empty topic"),
        ({"topic": b"", "properties": ((TOPIC_ALIAS, 1),)}, MQTT311, "empty topic"),
        ({"properties": ((MESSAGE_EXPIRY, 1),)}, MQTT311, "no properties"),
        ({"properties": ((0x7F, 1),)}, MQTT5, "unknown property"),
        ({"properties": ((TOPIC_ALIAS, 65536),)}, MQTT5, "does not fit"),
    ],
)
def test_publish_encode_refuses(kwargs: dict[str, Any], version: int, why: str) -> None:
    fields: dict[str, Any] = {"topic": b"a/b", "payload": b"x"} | kwargs
    with pytest.raises(ValueError, match=why):
        encode_publish(Publish(**fields), version)


@pytest.mark.parametrize(
    ("cmd", "body", "version", "why"),
    [
        (0x30, "00", MQTT311, "too short for its topic length"),
        (0x30, "0005612f62", MQTT311, "topic runs past"),
        (0x36, "0003612f62000a", MQTT311, "QoS 3"),
        (0x32, "0003612f6200", MQTT311, "too short for its packet id"),
        (0x32, "0003612f620000", MQTT311, "packet id 0"),
        (0x30, "0003612f62", MQTT5, "without its property length"),
        (0x30, "0003612f62 05 2300", MQTT5, "properties run past"),
        (0x30, "0003612f62 02 1f00", MQTT5, "not allowed"),  # a reason string in PUBLISH
        (0x30, "0003612f62 02 7f00", MQTT5, "unknown property"),
        (0x30, "0003612f62 06 230001230002", MQTT5, "given twice"),
        (0x30, "0000 03 230000", MQTT5, "topic alias 0"),
        (0x30, "0000 00", MQTT5, "empty topic name and no topic alias"),
        (0x38, "0003612f62", MQTT311, "QoS 0 and DUP"),
        (0x30, "0003612b62", MQTT311, "wildcard"),
        (0x30, "0002c328", MQTT311, "UTF-8"),
        (0x30, "0003612f62 05 0300027878", MQTT5, ""),  # fine: content type "xx"
        (0x40, "0001", MQTT5, "not PUBLISH"),
    ],
)
def test_publish_decode_refuses(cmd: int, body: str, version: int, why: str) -> None:
    raw = _hex(body)
    if not why:
        assert decode_publish(cmd, raw, version).properties == ((0x03, "xx"),)
        return
    with pytest.raises(MalformedPacket, match=why):
        decode_publish(cmd, raw, version)


def test_topic_alias_of() -> None:
    assert topic_alias_of(H("230007")) == 7
    assert topic_alias_of(H("020000003c")) is None
    with pytest.raises(MalformedPacket, match="topic alias 0"):
        topic_alias_of(H("230000"))


def test_split_packet_checks_the_remaining_length() -> None:
    assert split_packet(H("3003000174")) == (0x30, H("000174"))
    with pytest.raises(MalformedPacket, match="remaining length says 4"):
        split_packet(H("3004000174"))
    with pytest.raises(MalformedPacket, match="empty"):
        split_packet(b"")


_topics = st.text(
    st.characters(exclude_characters="+#\x00", exclude_categories=["Cs"]), min_size=1
).map(lambda t: t.encode())
# MQTT strings: UTF-8 with no U+0000 and no surrogates (the codec refuses those: another test)
_mqtt_text = st.text(
    st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=5
)
_props = st.lists(
    st.one_of(
        st.tuples(st.just(USER_PROPERTY), st.tuples(_mqtt_text, _mqtt_text)),
        st.tuples(st.just(SUBSCRIPTION_ID), st.integers(1, 268_435_455)),
    ),
    max_size=4,
).map(tuple)


@given(
    topic=_topics,
    payload=st.binary(max_size=300),
    qos=st.integers(0, 2),
    packet_id=st.integers(1, 65535),
    retain=st.booleans(),
    dup=st.booleans(),
    props=_props,
    version=st.sampled_from([MQTT311, MQTT5]),
)
def test_publish_round_trip(
    topic: bytes,
    payload: bytes,
    qos: int,
    packet_id: int,
    retain: bool,
    dup: bool,
    props: tuple[Any, ...],
    version: int,
) -> None:
    msg = Publish(
        topic,
        payload,
        qos,
        packet_id if qos else 0,
        retain,
        dup and qos > 0,
        props if version == MQTT5 else (),
    )
    packet = encode_publish(msg, version)
    assert decode_publish(*split_packet(packet), version) == msg


# -- PUBACK ------------------------------------------------------------------------------------

PUBACK_VECTORS: list[tuple[Puback, int, str]] = [
    (Puback(10), MQTT311, "4002 000a"),
    (Puback(10), MQTT5, "4002 000a"),  # success without properties: the short form
    (Puback(65535, 0x10), MQTT5, "4003 ffff 10"),
    (Puback(10, 0x87, ((REASON_STRING, "no"),)), MQTT5, "4009 000a 87 05 1f00026e6f"),
]


@pytest.mark.parametrize(("ack", "version", "wire"), PUBACK_VECTORS)
def test_puback_vectors(ack: Puback, version: int, wire: str) -> None:
    packet = _hex(wire)
    assert encode_puback(ack.packet_id, version, ack.reason, ack.properties) == packet
    assert decode_puback(*split_packet(packet), version) == ack


@pytest.mark.parametrize("version", [MQTT311, MQTT5])
def test_puback_gmqtt_writes_is_read(version: int) -> None:
    """gmqtt writes the long MQTT 5 form (reason code and an empty property block)."""
    ref = CommandWithMidPacket.build_package(MQTTCommands.PUBACK, 300, False, proto_ver=version)
    assert len(ref) == (6 if version == MQTT5 else 4)
    assert decode_puback(*split_packet(ref), version) == Puback(300)


@pytest.mark.parametrize(
    ("cmd", "body", "version", "why"),
    [
        (0x41, "000a", MQTT5, "not a PUBACK"),
        (0x40, "00", MQTT5, "too short"),
        (0x40, "0000", MQTT5, "packet id 0"),
        (0x40, "000a00", MQTT311, "remaining length 3"),
        (0x40, "000a01", MQTT5, "0x01 is not a PUBACK reason"),
        (0x40, "000a0002", MQTT5, "property length does not match"),
        (0x40, "000a00 03 230001", MQTT5, "not allowed"),
    ],
)
def test_puback_decode_refuses(cmd: int, body: str, version: int, why: str) -> None:
    with pytest.raises(MalformedPacket, match=why):
        decode_puback(cmd, _hex(body), version)


@pytest.mark.parametrize(
    ("args", "why"),
    [
        ((0, MQTT5), "packet id 0"),
        ((1, MQTT311, 0x87), "3.1.1"),
        ((1, MQTT5, 0x01), "not a PUBACK reason"),
        ((1, MQTT5, 0x80, ((TOPIC_ALIAS, 1),)), "not allowed in PUBACK"),
    ],
)
def test_puback_encode_refuses(args: tuple[Any, ...], why: str) -> None:
    with pytest.raises(ValueError, match=why):
        encode_puback(*args)


def test_property_round_trip_every_type() -> None:
    props = [
        (0x01, 1),
        (0x02, 0xFFFFFFFF),
        (0x03, "application/json"),
        (0x09, b"\x01\x02"),
        (0x0B, 268_435_455),
        (0x23, 65535),
        (0x26, ("a", "é")),
        (0x26, ("a", "")),
    ]
    block = encode_properties(props)
    length, start = decode_vbi(block)
    assert length == len(block) - start
    assert decode_properties(block[start:]) == props
