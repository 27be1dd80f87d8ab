"""The COPY row layout: one column list, and every writer and reader of a row follows it."""

from __future__ import annotations

import inspect

import pytest

from bt_mqtt.subscriber import rows, sql
from bt_mqtt.subscriber.copytext import NULL, esc


def test_writer_reader_and_sql_share_one_column_list() -> None:
    assert tuple(inspect.signature(rows.raw_line).parameters) == rows.RAW_COLUMNS
    assert tuple(rows.RawRow.__annotations__) == rows.RAW_COLUMNS
    assert tuple(inspect.signature(rows.reading_line).parameters) == rows.READING_COLUMNS
    assert tuple(rows.ReadingRow.__annotations__) == rows.READING_COLUMNS
    head, _, rest = sql.COPY_STAGE_RAW.partition(" (")
    columns, _, tail = rest.partition(") ")
    assert (head, tuple(columns.split(", ")), tail) == (
        "COPY stage_raw",
        rows.RAW_COLUMNS,
        "FROM STDIN",
    )
    assert sql.COPY_STAGE_READINGS == "COPY stage_readings (k, metric, value) FROM STDIN"
    for name, sqltype in rows.STAGE_RAW_TYPES + rows.STAGE_READINGS_TYPES:
        assert f"\n    {name} {sqltype}" in sql.STAGE_TABLES


def test_a_line_reads_back_by_name_with_escapes_and_nulls() -> None:
    values = {c: f"v_{c}" for c in rows.RAW_COLUMNS}
    values.update(k="7", name=esc("tab\there\nnew\\line"), facts=NULL, payload=esc('{"a":"\\t"}'))
    line = rows.raw_line(**values)  # type: ignore[arg-type]
    assert line.endswith("\n") and line.count("\t") == len(rows.RAW_COLUMNS) - 1
    row = rows.RawRow.parse(line)
    assert row.k == "7" and row.scanner_id == "v_scanner_id" and row.received_at == "v_received_at"
    assert row.name == "tab\there\nnew\\line"
    assert row.facts is None
    assert row.payload == '{"a":"\\t"}'
    assert rows.row_key(line.encode()) == b"7"
    reading = rows.reading_line(3, "temperature_c", "21.5")
    assert rows.ReadingRow.parse(reading) == ("3", "temperature_c", "21.5")
    assert rows.row_key(reading.encode()) == b"3"


def test_a_line_of_another_layout_is_refused() -> None:
    with pytest.raises(ValueError, match=f"a row of 3 fields, expected {len(rows.RAW_COLUMNS)}"):
        rows.RawRow.parse("1\t2\t3\n")
