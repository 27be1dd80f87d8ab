"""``bt-mqtt decode`` on hostile input: every input line gets exactly one output line, JSON output
is always valid JSON, text output never carries a control character, and the run goes on."""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bt_mqtt.cli import decode
from bt_mqtt.parsers.api import ParseContext
from bt_mqtt.parsers.registry import Registry

CMD = [sys.executable, "-m", "bt_mqtt.cli.main", "decode", "--no-plugins"]
BTHOME = "0000fcd2-0000-1000-8000-00805f9b34fb"
MAC = "AA:BB:CC:DD:EE:FF"
GOOD = json.dumps({"mac": MAC, "service_data": {BTHOME: "4002c409"}})  # BTHome: 25.00 °C
ESC_NAME = json.dumps({"mac": "\u001b]0;PWN\u0007", "rssi": -1})
ESC_FACT = json.dumps({"mac": MAC, "service_data": {BTHOME: "4053041b5d3007"}})  # text object


def run(data: bytes, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*CMD, *args], input=data, capture_output=True, timeout=120, check=False)


def test_lines_that_used_to_stop_the_run_get_an_error_line_each() -> None:
    """Before: ``[``x5000 ended the run with a RecursionError, key ``²`` with a ValueError."""
    lines = [
        GOOD,
        "[" * 5000,
        json.dumps({"mac": MAC, "manufacturer_data": {"²": "00"}}),
        "{" + '"a":{' * 3000,
        GOOD,
    ]
    proc = run("".join(x + "\n" for x in lines).encode())
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    out = [json.loads(x) for x in proc.stdout.decode().splitlines()]
    assert len(out) == len(lines)
    assert out[0] == out[4] and out[0]["parser"] == "bthome" and "error" not in out[0]
    assert out[1]["error"] == "invalid JSON: nested too deeply"
    assert out[2]["mac"] == MAC and out[2]["error"].startswith("bad_value")
    assert "error" in out[3]


def test_text_output_escapes_control_characters() -> None:
    lines = [ESC_NAME, ESC_FACT, "\u001b[2J not json", GOOD]
    proc = run("".join(x + "\n" for x in lines).encode(), "--format", "text", "--facts")
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    text = proc.stdout.decode()
    assert len(text.splitlines()) == len(lines)
    assert not any(ch in text for ch in "\x1b\x07\r\x00")
    assert "\\x1b]0;PWN\\x07" in text  # the MAC field that was not one, visible
    assert "\\x1b]0\\x07" in text  # the BTHome text object, visible


def test_an_overlong_line_is_reported_and_skipped() -> None:
    data = GOOD.encode() + b"\n" + b"x" * (decode.MAX_LINE_BYTES + 10) + b"\n" + GOOD.encode()
    out = io.StringIO()
    n = decode.stream(
        io.BytesIO(data), out, Registry.default(plugins=False), ParseContext(), "json"
    )
    rows = [json.loads(x) for x in out.getvalue().splitlines()]
    assert n == 3 and len(rows) == 3
    assert rows[1]["error"] == f"line is longer than {decode.MAX_LINE_BYTES} bytes"
    assert rows[0] == rows[2] and rows[2]["parser"] == "bthome"


def test_non_finite_readings_are_written_as_null() -> None:
    row = {"mac": MAC, "parser": "x", "readings": {"a": math.nan, "b": math.inf, "c": 1.5}}
    assert json.loads(decode.as_json(row))["readings"] == {"a": None, "b": None, "c": 1.5}


# -- fuzz --------------------------------------------------------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
hexes = st.binary(max_size=24).map(bytes.hex) | st.text(max_size=12)
adverts = st.fixed_dictionaries(
    {"mac": st.sampled_from([MAC, MAC.lower(), "ﬀ:ﬀ:ﬀ:ﬀ:ﬀ:ﬀ", "\u001b[2J"]) | json_values},
    optional={
        "rssi": st.integers(-200, 200) | json_values,
        "name": st.text(max_size=20) | json_values,
        "manufacturer_data": st.dictionaries(
            st.sampled_from(["76", "1177", "²", "٣", "-1", "65536"]) | st.text(max_size=5), hexes
        )
        | json_values,
        "service_data": st.dictionaries(
            st.sampled_from([BTHOME, "0000181a-0000-1000-8000-00805f9b34fb", "fcd2"]), hexes
        )
        | json_values,
        "service_uuids": st.lists(st.text(max_size=40)) | json_values,
    },
)
line_texts = st.one_of(
    adverts.map(json.dumps),
    json_values.map(json.dumps),
    st.text(max_size=80),
    st.integers(1, 20_000).map(lambda n: "[" * n),
    st.integers(1, 5_000).map(lambda n: '{"a":' * n + "1" + "}" * n),
)
input_lines = st.lists(
    line_texts.map(lambda t: t.encode("utf-8", "surrogatepass")) | st.binary(max_size=60),
    min_size=1,
    max_size=12,
).map(lambda ls: [x.replace(b"\n", b" ") for x in ls])


def _check(stdout: str, n: int, fmt: str) -> None:
    rows = stdout.split("\n")
    assert rows[-1] == "" and len(rows) - 1 == n, (len(rows) - 1, n)
    for row in rows[:-1]:
        if fmt == "json":
            obj = json.loads(row, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
            assert set(obj) >= {"mac", "parser", "readings"}
        else:
            assert row.isprintable(), row


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(input_lines, st.sampled_from(["json", "text"]), st.booleans())
def test_every_line_gets_one_valid_line_in_process(
    lines: list[bytes], fmt: str, final_newline: bool
) -> None:
    data = b"\n".join(lines) + (b"\n" if final_newline else b"")
    n = len(lines) if final_newline or lines[-1] else len(lines) - 1
    out = io.StringIO()
    ctx = ParseContext()
    ctx.state["_decode_facts"] = {"on": True}
    assert decode.stream(io.BytesIO(data), out, REGISTRY, ctx, fmt) == n
    _check(out.getvalue(), n, fmt)


REGISTRY = Registry.default(plugins=False)


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(input_lines, min_size=5, max_size=5).map(lambda xs: [y for x in xs for y in x]))
def test_every_line_gets_one_valid_line_from_the_command(lines: list[bytes]) -> None:
    proc = run(b"".join(x + b"\n" for x in lines), "--facts")
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    _check(proc.stdout.decode(), len(lines), "json")
