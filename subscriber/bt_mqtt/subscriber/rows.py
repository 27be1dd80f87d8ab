"""The layout of the rows ingest COPYs into its staging tables: one home for the column order.

The planner (``batch``) writes rows in this order, ``sql`` declares the staging tables and the
COPY statements from it, and whoever reads a row back (``store``'s careful path, the tests) goes
through ``RawRow``/``ReadingRow`` by name.  Add a column here, and nowhere else by position.
"""

from __future__ import annotations

from typing import Final, NamedTuple

from bt_mqtt.subscriber.copytext import NULL, unescape

__all__ = [
    "RAW_COLUMNS",
    "READING_COLUMNS",
    "STAGE_RAW_TYPES",
    "STAGE_READINGS_TYPES",
    "RawRow",
    "ReadingRow",
    "raw_line",
    "reading_line",
    "row_key",
]

# stage_raw: (column, SQL type) in COPY order.  ``k`` is the message's index in the planned
# chunk; ``facts`` and ``readings`` are JSON object text (NULL when empty); ``payload`` is the
# message as received (or as made storable/pseudonymised).
STAGE_RAW_TYPES: Final[tuple[tuple[str, str], ...]] = (
    ("k", "integer"),
    ("time", "timestamptz"),
    ("received_at", "timestamptz"),
    ("scanner_id", 'text COLLATE "C"'),
    ("boot", 'text COLLATE "C"'),
    ("seq", "bigint"),
    ("mac", 'text COLLATE "C"'),
    ("rssi", "smallint"),
    ("address_type", "text"),
    ("name", "text"),
    ("parser", "text"),
    ("clock_skew", "boolean"),
    ("agent_time", "boolean"),
    ("parse_status", "text"),
    ("facts", "text"),
    ("readings", "text"),
    ("payload", "jsonb"),
)
STAGE_READINGS_TYPES: Final[tuple[tuple[str, str], ...]] = (
    ("k", "integer"),
    ("metric", 'text COLLATE "C"'),
    ("value", "double precision"),
)
RAW_COLUMNS: Final = tuple(name for name, _ in STAGE_RAW_TYPES)
READING_COLUMNS: Final = tuple(name for name, _ in STAGE_READINGS_TYPES)


def raw_line(
    k: int,
    time: str,
    received_at: str,
    scanner_id: str,
    boot: str,
    seq: int,
    mac: str,
    rssi: int,
    address_type: str,
    name: str,
    parser: str,
    clock_skew: str,
    agent_time: str,
    parse_status: str,
    facts: str,
    readings: str,
    payload: str,
) -> str:
    """One stage_raw line from fields already in COPY text (escaped, ``\\N`` for NULL)."""
    return (
        f"{k}\t{time}\t{received_at}\t{scanner_id}\t{boot}\t{seq}\t{mac}\t{rssi}\t"
        f"{address_type}\t{name}\t{parser}\t{clock_skew}\t{agent_time}\t{parse_status}\t"
        f"{facts}\t{readings}\t{payload}\n"
    )


def reading_line(k: int, metric: str, value: str) -> str:
    """One stage_readings line from fields already in COPY text."""
    return f"{k}\t{metric}\t{value}\n"


def row_key(line: bytes) -> bytes:
    """The ``k`` of a stage_raw or stage_readings line, as its COPY text."""
    return line.split(b"\t", 1)[0]


assert RAW_COLUMNS[0] == READING_COLUMNS[0] == "k"  # row_key relies on it


class RawRow(NamedTuple):
    """A stage_raw row read back from COPY text: unescaped text, None for NULL."""

    k: str
    time: str
    received_at: str
    scanner_id: str
    boot: str
    seq: str
    mac: str
    rssi: str
    address_type: str | None
    name: str | None
    parser: str | None
    clock_skew: str
    agent_time: str
    parse_status: str | None
    facts: str | None
    readings: str | None
    payload: str

    @classmethod
    def parse(cls, line: str) -> RawRow:
        """The row of one line (with or without its newline)."""
        return cls(*_fields(line, len(RAW_COLUMNS)))  # type: ignore[arg-type]


class ReadingRow(NamedTuple):
    """A stage_readings row read back from COPY text."""

    k: str
    metric: str
    value: str

    @classmethod
    def parse(cls, line: str) -> ReadingRow:
        return cls(*_fields(line, len(READING_COLUMNS)))  # type: ignore[arg-type]


def _fields(line: str, n: int) -> list[str | None]:
    parts = line.rstrip("\n").split("\t")
    if len(parts) != n:
        raise ValueError(f"a row of {len(parts)} fields, expected {n}: {line[:120]!r}")
    return [None if f == NULL else unescape(f) for f in parts]
