"""MQTT 3.1.1 / 5.0 PUBLISH and PUBACK packets, built and read without I/O.

The project writes some MQTT packets itself instead of through gmqtt: the agent writes a batch
of QoS 1 PUBLISH packets in one socket write, and the subscriber reads incoming PUBLISH packets
and writes their PUBACKs only after its database commit.  This module is the byte layout of those
two packets (MQTT 3.1.1 sections 2.2, 3.3, 3.4; MQTT 5.0 sections 1.5.5, 2.2.2, 3.3, 3.4) and of
the pieces they are made of (variable byte integers, properties).  No socket, clock or gmqtt.

A packet is a fixed header -- the packet type and flags in one byte, then the remaining length
as a variable byte integer -- followed by the body.  gmqtt hands a packet handler the first
byte (``cmd``) and the body, so the ``decode_*`` functions take those two; ``encode_*`` return
the whole packet.  ``split_packet`` cuts a whole packet into the two.

Bad input raises ``MalformedPacket`` (decoding) or ``ValueError`` (encoding), with a message
naming the field.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Final

from attrs import define

MQTT311: Final = 4  # the protocol level byte of CONNECT
MQTT5: Final = 5

PUBLISH: Final = 0x30
PUBACK: Final = 0x40
PUBACK_HEAD: Final = b"\x40\x02"  # PUBACK with remaining length 2: packet id only, success

MAX_VBI: Final = 268_435_455  # four bytes of seven bits
MAX_PACKET_ID: Final = 0xFFFF
MAX_TOPIC_BYTES: Final = 0xFFFF

# Property identifiers (MQTT 5.0 section 2.2.2.2) and the type of their value.
_BYTE, _U16, _U32, _VBI, _UTF8, _BINARY, _PAIR = range(7)
PROPERTY_TYPES: Final[dict[int, int]] = {
    0x01: _BYTE,  # payload format indicator
    0x02: _U32,  # message expiry interval
    0x03: _UTF8,  # content type
    0x08: _UTF8,  # response topic
    0x09: _BINARY,  # correlation data
    0x0B: _VBI,  # subscription identifier
    0x11: _U32,  # session expiry interval
    0x12: _UTF8,  # assigned client identifier
    0x13: _U16,  # server keep alive
    0x15: _UTF8,  # authentication method
    0x16: _BINARY,  # authentication data
    0x17: _BYTE,  # request problem information
    0x18: _U32,  # will delay interval
    0x19: _BYTE,  # request response information
    0x1A: _UTF8,  # response information
    0x1C: _UTF8,  # server reference
    0x1F: _UTF8,  # reason string
    0x21: _U16,  # receive maximum
    0x22: _U16,  # topic alias maximum
    0x23: _U16,  # topic alias
    0x24: _BYTE,  # maximum QoS
    0x25: _BYTE,  # retain available
    0x26: _PAIR,  # user property
    0x27: _U32,  # maximum packet size
    0x28: _BYTE,  # wildcard subscription available
    0x29: _BYTE,  # subscription identifier available
    0x2A: _BYTE,  # shared subscription available
}
_INT_SIZES: Final = {_BYTE: 1, _U16: 2, _U32: 4}
PAYLOAD_FORMAT: Final = 0x01
MESSAGE_EXPIRY: Final = 0x02
CONTENT_TYPE: Final = 0x03
RESPONSE_TOPIC: Final = 0x08
CORRELATION_DATA: Final = 0x09
SUBSCRIPTION_ID: Final = 0x0B
REASON_STRING: Final = 0x1F
TOPIC_ALIAS: Final = 0x23
USER_PROPERTY: Final = 0x26

PUBLISH_PROPERTIES: Final = frozenset(
    {
        PAYLOAD_FORMAT,
        MESSAGE_EXPIRY,
        CONTENT_TYPE,
        RESPONSE_TOPIC,
        CORRELATION_DATA,
        SUBSCRIPTION_ID,
        TOPIC_ALIAS,
        USER_PROPERTY,
    }
)
PUBACK_PROPERTIES: Final = frozenset({REASON_STRING, USER_PROPERTY})
_REPEATABLE: Final = frozenset({USER_PROPERTY, SUBSCRIPTION_ID})

# PUBACK reason codes (MQTT 5.0 section 3.4.2.1); >= 0x80 means the broker refused the message.
PUBACK_REASONS: Final[dict[int, str]] = {
    0x00: "success",
    0x10: "no matching subscribers",
    0x80: "unspecified error",
    0x83: "implementation specific error",
    0x87: "not authorized",
    0x90: "topic name invalid",
    0x91: "packet identifier in use",
    0x97: "quota exceeded",
    0x99: "payload format invalid",
}

Property = tuple[int, Any]


class MalformedPacket(ValueError):
    """Bytes that are not a valid packet of the kind being decoded."""


# -- variable byte integers (MQTT 3.1.1 2.2.3, MQTT 5.0 1.5.5) --------------------------------


def encode_vbi(value: int) -> bytes:
    """``value`` (0..268,435,455) in one to four bytes, seven bits each, least significant
    first, the top bit set on every byte but the last."""
    if not 0 <= value <= MAX_VBI:
        raise ValueError(f"variable byte integer out of range: {value}")
    out = bytearray()
    while True:
        value, digit = divmod(value, 128)
        if value:
            out.append(digit | 0x80)
        else:
            out.append(digit)
            return bytes(out)


def decode_vbi(buf: bytes, pos: int = 0) -> tuple[int, int]:
    """The variable byte integer at ``buf[pos]``: (value, position after it).

    More than four bytes, input ending inside the integer, and a longer encoding than needed
    (``80 00`` for 0: MQTT 5.0 requires the fewest bytes) are malformed."""
    value = 0
    shift = 0
    for i in range(pos, min(pos + 4, len(buf))):
        byte = buf[i]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            if byte == 0 and i > pos:
                raise MalformedPacket("variable byte integer not in its shortest form")
            return value, i + 1
        shift += 7
    if len(buf) - pos >= 4:
        raise MalformedPacket("variable byte integer longer than four bytes")
    raise MalformedPacket("packet ends inside a variable byte integer")


def split_packet(packet: bytes) -> tuple[int, bytes]:
    """A whole packet as (first byte, body); the remaining length must match exactly."""
    if not packet:
        raise MalformedPacket("empty packet")
    length, start = decode_vbi(packet, 1)
    if len(packet) - start != length:
        raise MalformedPacket(
            f"remaining length says {length} bytes, the packet has {len(packet) - start}"
        )
    return packet[0], packet[start:]


# -- properties (MQTT 5.0 2.2.2) ---------------------------------------------------------------


def _utf8(raw: bytes, what: str) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedPacket(f"{what} is not valid UTF-8") from None
    if "\x00" in text:
        raise MalformedPacket(f"{what} contains U+0000")
    return text


def _pack_str(value: str | bytes, what: str) -> bytes:
    """A UTF-8 string (``str``: no U+0000, no surrogate, as the decoder demands) or binary data
    (``bytes``), with its two-byte length."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError(f"{what} contains U+0000")
        raw = value.encode("utf-8")  # a lone surrogate raises UnicodeEncodeError, a ValueError
    else:
        raw = value
    if len(raw) > 0xFFFF:
        raise ValueError(f"{what} longer than 65,535 bytes")
    return len(raw).to_bytes(2, "big") + raw


def encode_properties(props: Iterable[Property]) -> bytes:
    """A property block: its length (a variable byte integer), then each (identifier, value).

    Values: an int for byte, two- and four-byte integer and variable byte integer properties, a
    str for UTF-8 strings, bytes for binary data, a (name, value) pair of str for user
    properties."""
    body = bytearray()
    for pid, value in props:
        kind = PROPERTY_TYPES.get(pid)
        if kind is None:
            raise ValueError(f"unknown property identifier 0x{pid:02x}")
        body += encode_vbi(pid)
        if kind in _INT_SIZES:
            size = _INT_SIZES[kind]
            if not 0 <= value < 1 << (8 * size):
                raise ValueError(f"property 0x{pid:02x}: {value!r} does not fit {size} byte(s)")
            body += int(value).to_bytes(size, "big")
        elif kind == _VBI:
            body += encode_vbi(value)
        elif kind == _UTF8:
            body += _pack_str(str(value), f"property 0x{pid:02x}")
        elif kind == _BINARY:
            body += _pack_str(bytes(value), f"property 0x{pid:02x}")
        else:
            name, text = value
            body += _pack_str(str(name), "user property name")
            body += _pack_str(str(text), "user property value")
    return encode_vbi(len(body)) + bytes(body)


def _take(block: bytes, pos: int, n: int, pid: int) -> int:
    end = pos + n
    if end > len(block):
        raise MalformedPacket(f"property 0x{pid:02x} runs past the end of the property block")
    return end


def _take_str(block: bytes, pos: int, pid: int) -> tuple[bytes, int]:
    end = _take(block, pos, 2, pid)
    stop = _take(block, end, (block[pos] << 8) | block[pos + 1], pid)
    return block[end:stop], stop


def decode_properties(block: bytes, allowed: frozenset[int] | None = None) -> list[Property]:
    """The properties in ``block`` (the bytes after the property length), in order.

    Raises ``MalformedPacket`` for an unknown identifier, one not in ``allowed``, a value that
    runs past the block, invalid UTF-8, and a property other than a user property or
    subscription identifier given twice."""
    out: list[Property] = []
    seen: set[int] = set()
    pos = 0
    while pos < len(block):
        pid, pos = decode_vbi(block, pos)
        kind = PROPERTY_TYPES.get(pid)
        if kind is None:
            raise MalformedPacket(f"unknown property identifier 0x{pid:02x}")
        if allowed is not None and pid not in allowed:
            raise MalformedPacket(f"property 0x{pid:02x} is not allowed in this packet")
        if pid in seen and pid not in _REPEATABLE:
            raise MalformedPacket(f"property 0x{pid:02x} given twice")
        seen.add(pid)
        value: Any
        if kind in _INT_SIZES:
            size = _INT_SIZES[kind]
            end = _take(block, pos, size, pid)
            value = int.from_bytes(block[pos:end], "big")
            pos = end
        elif kind == _VBI:
            value, pos = decode_vbi(block, pos)
        elif kind == _UTF8:
            raw, pos = _take_str(block, pos, pid)
            value = _utf8(raw, f"property 0x{pid:02x}")
        elif kind == _BINARY:
            value, pos = _take_str(block, pos, pid)
        else:
            name, pos = _take_str(block, pos, pid)
            text, pos = _take_str(block, pos, pid)
            value = (_utf8(name, "user property name"), _utf8(text, "user property value"))
        out.append((pid, value))
    return out


def property_value(props: Iterable[Property], pid: int) -> Any:
    """The first value of property ``pid``, or None."""
    for key, value in props:
        if key == pid:
            return value
    return None


def topic_alias_of(block: bytes) -> int | None:
    """The topic alias in a PUBLISH property block, or None (MQTT 5.0 3.3.2.3.4)."""
    alias = property_value(decode_properties(block, PUBLISH_PROPERTIES), TOPIC_ALIAS)
    if alias == 0:
        raise MalformedPacket("topic alias 0 is not permitted")
    return None if alias is None else int(alias)


# -- PUBLISH (MQTT 3.1.1 3.3, MQTT 5.0 3.3) ----------------------------------------------------


@define(frozen=True)
class Publish:
    """One PUBLISH packet.  ``packet_id`` is 0 for QoS 0 (which has none)."""

    topic: bytes
    payload: bytes = b""
    qos: int = 0
    packet_id: int = 0
    retain: bool = False
    dup: bool = False
    properties: tuple[Property, ...] = ()

    @property
    def topic_alias(self) -> int | None:
        value = property_value(self.properties, TOPIC_ALIAS)
        return None if value is None else int(value)


def _check_topic_name(topic: bytes, error: type[ValueError]) -> None:
    if len(topic) > MAX_TOPIC_BYTES:
        raise error("topic name longer than 65,535 bytes")
    if b"+" in topic or b"#" in topic:
        raise error(f"topic name {topic[:80]!r} contains a wildcard")
    try:
        text = topic.decode("utf-8")
    except UnicodeDecodeError:
        raise error(f"topic name {topic[:80]!r} is not valid UTF-8") from None
    if "\x00" in text:
        raise error("topic name contains U+0000")


def _fixed_header_byte(qos: int, retain: bool, dup: bool) -> int:
    if qos not in (0, 1, 2):
        raise ValueError(f"QoS {qos} is not 0, 1 or 2")
    if dup and qos == 0:
        raise ValueError("DUP must be 0 for QoS 0")
    return PUBLISH | (dup << 3) | (qos << 1) | int(retain)


def encode_publish(msg: Publish, version: int = MQTT5) -> bytes:
    """The whole PUBLISH packet for ``msg`` (properties are dropped for MQTT 3.1.1 only if
    there are none; giving some there is an error)."""
    first = _fixed_header_byte(msg.qos, msg.retain, msg.dup)
    _check_topic_name(msg.topic, ValueError)
    if not msg.topic and (version < MQTT5 or msg.topic_alias is None):
        raise ValueError("empty topic name without a topic alias")
    if msg.qos:
        if not 1 <= msg.packet_id <= MAX_PACKET_ID:
            raise ValueError(f"packet id {msg.packet_id} is not 1..65535")
        pid = msg.packet_id.to_bytes(2, "big")
    elif msg.packet_id:
        raise ValueError("a QoS 0 PUBLISH has no packet id")
    else:
        pid = b""
    if version >= MQTT5:
        props = encode_properties(msg.properties)
    elif msg.properties:
        raise ValueError("MQTT 3.1.1 has no properties")
    else:
        props = b""
    body = b"".join((len(msg.topic).to_bytes(2, "big"), msg.topic, pid, props, msg.payload))
    return bytes((first,)) + encode_vbi(len(body)) + body


def split_publish(cmd: int, body: bytes, version: int) -> tuple[bytes, int, bytes, bytes]:
    """The receive hot path: (topic, packet id or 0, property block, payload) of a PUBLISH.

    Checks only what it must to cut the body (lengths, QoS 3, packet id 0); the property block
    is returned undecoded (empty when there is none, always for MQTT 3.1.1) and the topic may
    be empty when a topic alias stands for it.  ``decode_publish`` checks everything."""
    n = len(body)
    if n < 2:
        raise MalformedPacket("PUBLISH too short for its topic length")
    end = 2 + ((body[0] << 8) | body[1])
    if end > n:
        raise MalformedPacket("PUBLISH topic runs past the end of the packet")
    topic = body[2:end]
    packet_id = 0
    qos = (cmd >> 1) & 3
    if qos:
        if qos == 3:
            raise MalformedPacket("PUBLISH with QoS 3")
        if end + 2 > n:
            raise MalformedPacket("PUBLISH too short for its packet id")
        packet_id = (body[end] << 8) | body[end + 1]
        if not packet_id:
            raise MalformedPacket("PUBLISH with packet id 0")
        end += 2
    props = b""
    if version >= MQTT5:
        if end >= n:
            raise MalformedPacket("PUBLISH without its property length")
        if body[end] == 0:  # no properties: the usual case
            end += 1
        else:
            length, start = decode_vbi(body, end)
            end = start + length
            if end > n:
                raise MalformedPacket("PUBLISH properties run past the end of the packet")
            props = body[start:end]
    return topic, packet_id, props, body[end:]


def decode_publish(cmd: int, body: bytes, version: int) -> Publish:
    """A PUBLISH packet (first byte and body), fully checked."""
    if cmd & 0xF0 != PUBLISH:
        raise MalformedPacket(f"packet type 0x{cmd >> 4:x} is not PUBLISH")
    topic, packet_id, block, payload = split_publish(cmd, body, version)
    qos = (cmd >> 1) & 3
    dup = bool(cmd & 0x08)
    if dup and not qos:
        raise MalformedPacket("PUBLISH with QoS 0 and DUP set")
    props = tuple(decode_properties(block, PUBLISH_PROPERTIES))
    msg = Publish(topic, payload, qos, packet_id, bool(cmd & 1), dup, props)
    alias = msg.topic_alias
    if alias == 0:
        raise MalformedPacket("topic alias 0 is not permitted")
    if not topic and alias is None:
        raise MalformedPacket("PUBLISH with an empty topic name and no topic alias")
    _check_topic_name(topic, MalformedPacket)
    return msg


class PublishTemplate:
    """PUBLISH packets to one topic, with one QoS and retain flag and no properties: the parts
    that do not change are built once (the agent's hot path)."""

    __slots__ = ("_first", "_fixed", "_head", "_props", "qos", "topic", "version")

    def __init__(self, topic: bytes, version: int, *, qos: int = 1, retain: bool = False) -> None:
        _check_topic_name(topic, ValueError)
        if not topic:
            raise ValueError("empty topic name")
        self._first = _fixed_header_byte(qos, retain, False)
        self.topic = topic
        self.qos = qos
        self.version = version
        self._head = len(topic).to_bytes(2, "big") + topic
        self._props = b"\x00" if version >= MQTT5 else b""  # an empty property block
        self._fixed = len(self._head) + (2 if qos else 0) + len(self._props)

    def encode(self, payload: bytes, packet_id: int = 0, *, dup: bool = False) -> bytes:
        """One packet (``packet_id`` 1..65535 for QoS 1 and 2, none for QoS 0)."""
        first = self._first | 0x08 if dup else self._first
        if self.qos:
            if not 1 <= packet_id <= MAX_PACKET_ID:
                raise ValueError(f"packet id {packet_id} is not 1..65535")
            pid = packet_id.to_bytes(2, "big")
        elif packet_id or dup:
            raise ValueError("a QoS 0 PUBLISH has no packet id and no DUP flag")
        else:
            pid = b""
        length = encode_vbi(self._fixed + len(payload))
        return b"".join((bytes((first,)), length, self._head, pid, self._props, payload))

    def encode_many(
        self, payloads: Sequence[bytes], packet_ids: Iterator[int]
    ) -> list[tuple[int, bytes]]:
        """(packet id, packet) for the payloads in order, each with the next id from
        ``packet_ids``; stops early when ``packet_ids`` ends (no id is taken that is not used).
        QoS 1 and 2 only."""
        if not self.qos:
            raise ValueError("encode_many needs QoS 1 or 2 (packet ids)")
        first = bytes((self._first,))
        head = self._head
        props = self._props
        fixed = self._fixed
        out: list[tuple[int, bytes]] = []
        append = out.append
        # payload first: zip stops on the payloads before drawing an id it would not use
        for payload, mid in zip(payloads, packet_ids, strict=False):
            n = fixed + len(payload)  # the remaining length, a variable byte integer
            if n < 0x80:
                length = bytes((n,))
            elif n < 0x4000:
                length = bytes((n & 0x7F | 0x80, n >> 7))
            elif n < 0x200000:
                length = bytes((n & 0x7F | 0x80, (n >> 7) & 0x7F | 0x80, n >> 14))
            else:
                length = encode_vbi(n)
            append((mid, b"".join((first, length, head, mid.to_bytes(2, "big"), props, payload))))
        return out


# -- PUBACK (MQTT 3.1.1 3.4, MQTT 5.0 3.4) -----------------------------------------------------


@define(frozen=True)
class Puback:
    """One PUBACK packet.  ``reason`` >= 0x80: the receiver refused the message."""

    packet_id: int
    reason: int = 0
    properties: tuple[Property, ...] = ()


def encode_puback(
    packet_id: int, version: int = MQTT5, reason: int = 0, properties: Sequence[Property] = ()
) -> bytes:
    """The PUBACK for ``packet_id``.  Success without properties is the short form (remaining
    length 2), valid in both versions; otherwise MQTT 5.0 only."""
    if not 1 <= packet_id <= MAX_PACKET_ID:
        raise ValueError(f"packet id {packet_id} is not 1..65535")
    pid = packet_id.to_bytes(2, "big")
    if not reason and not properties:
        return PUBACK_HEAD + pid
    if version < MQTT5:
        raise ValueError("MQTT 3.1.1 PUBACK has no reason code or properties")
    if reason not in PUBACK_REASONS:
        raise ValueError(f"0x{reason:02x} is not a PUBACK reason code")
    for pid_, _ in properties:
        if pid_ not in PUBACK_PROPERTIES:
            raise ValueError(f"property 0x{pid_:02x} is not allowed in PUBACK")
    body = pid + bytes((reason,)) + (encode_properties(properties) if properties else b"")
    return bytes((PUBACK,)) + encode_vbi(len(body)) + body


def decode_puback(cmd: int, body: bytes, version: int) -> Puback:
    """A PUBACK packet (first byte and body), fully checked."""
    if cmd != PUBACK:
        raise MalformedPacket(f"first byte 0x{cmd:02x} is not a PUBACK's (0x40)")
    n = len(body)
    if n < 2:
        raise MalformedPacket("PUBACK too short for its packet id")
    packet_id = (body[0] << 8) | body[1]
    if not packet_id:
        raise MalformedPacket("PUBACK with packet id 0")
    if version < MQTT5:
        if n != 2:
            raise MalformedPacket(f"MQTT 3.1.1 PUBACK has remaining length {n}, not 2")
        return Puback(packet_id)
    if n == 2:
        return Puback(packet_id)
    reason = body[2]
    if reason not in PUBACK_REASONS:
        raise MalformedPacket(f"0x{reason:02x} is not a PUBACK reason code")
    if n == 3:
        return Puback(packet_id, reason)
    length, start = decode_vbi(body, 3)
    if start + length != n:
        raise MalformedPacket("PUBACK property length does not match the packet")
    props = tuple(decode_properties(body[start:], PUBACK_PROPERTIES))
    return Puback(packet_id, reason, props)
