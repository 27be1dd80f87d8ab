"""``bt-mqtt decode`` as a user runs it: a subprocess, JSON lines in and out."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
import uuid
from pathlib import Path

from tests.parsers.encoders import (
    atc1441,
    pvvx,
    random_bthome,
    random_ibeacon,
    random_ruuvi_df5,
    random_tlm,
)

BTHOME = "0000fcd2-0000-1000-8000-00805f9b34fb"
ATC = "0000181a-0000-1000-8000-00805f9b34fb"
EDDYSTONE = "0000feaa-0000-1000-8000-00805f9b34fb"
RUUVI, APPLE = 0x0499, 0x004C
# RSSIs at and beyond the plausible range (-127..20 dBm), 0 and None = not measured
ODD_RSSI = (-127, 20, -128, 21, 0, None, -1)
CMD = [sys.executable, "-m", "bt_mqtt.cli.main", "decode", "--no-plugins"]


def run(lines: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CMD, *args],
        input="".join(f"{x}\n" for x in lines),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def random_mac(rng: random.Random) -> str:
    return ":".join(f"{rng.randrange(256):02X}" for _ in range(6))


def test_random_adverts_decode_with_every_value_right() -> None:
    rng = random.Random(20240611)
    lines, wanted = [], []
    for i in range(600):
        mac = random_mac(rng)
        kind = i % 3
        if kind == 0:
            data, expected = random_bthome(rng)
            uuid, parser = BTHOME, "bthome"
        elif kind == 1:
            data, expected = atc1441(mac, rng)
            uuid, parser = ATC, "atc"
        else:
            data, expected = pvvx(mac, rng)
            uuid, parser = ATC, "atc"
        msg = {"mac": mac, "rssi": -70, "service_data": {uuid: data.hex()}}
        if i % 2:  # every other line as a full v1 message
            msg.update(v=1, scanner_id="t", boot="b", seq=i, ts="2024-01-01T00:00:00.000Z")
        lines.append(json.dumps(msg))
        wanted.append((mac, parser, expected))
    proc = run(lines)
    assert proc.returncode == 0, proc.stderr
    out = [json.loads(x) for x in proc.stdout.splitlines()]
    assert len(out) == len(lines)
    for got, (mac, parser, expected) in zip(out, wanted, strict=True):
        assert got["mac"] == mac
        assert got["parser"] == parser, got
        assert set(got["readings"]) == set(expected), (got, expected)
        for k, v in expected.items():
            assert math.isclose(got["readings"][k], v, rel_tol=1e-9, abs_tol=1e-9), (k, got, v)


def _rssi(rng: random.Random) -> int | None:
    return rng.choice(ODD_RSSI) if rng.random() < 0.15 else rng.randint(-105, -25)


def test_random_ruuvi_tlm_ibeacon_decode_with_every_value_right() -> None:
    rng = random.Random(20240612)
    lines, wanted = [], []
    for i in range(900):
        mac, rssi, kind = random_mac(rng), _rssi(rng), i % 3
        msg: dict[str, object] = {"mac": mac}
        facts: dict[str, object] = {}
        if kind == 0:
            data, expected = random_ruuvi_df5(rng)
            msg["manufacturer_data"] = {str(RUUVI): data.hex()}
            parser = "ruuvi"
            if data[18:] != b"\xff" * 6:
                facts["mac"] = ":".join(f"{b:02X}" for b in data[18:])
        elif kind == 1:
            data, expected = random_tlm(rng)
            msg["service_data"] = {EDDYSTONE: data.hex()}
            parser, facts["beacon"] = "eddystone", "eddystone_tlm"
        else:
            data, expected = random_ibeacon(rng, rssi)
            msg["manufacturer_data"] = {str(APPLE): data.hex()}
            parser = "ibeacon"
            facts["uuid"] = str(uuid.UUID(bytes=data[2:18]))
            facts["major"] = int.from_bytes(data[18:20], "big")
            facts["minor"] = int.from_bytes(data[20:22], "big")
        if rssi is not None:
            msg["rssi"] = rssi
        if i % 2:
            msg.update(v=1, scanner_id="t", boot="b", seq=i, ts="2024-01-01T00:00:00.000Z")
        lines.append(json.dumps(msg))
        wanted.append((mac, parser, expected, facts))
    proc = run(lines, "--facts")
    assert proc.returncode == 0, proc.stderr
    out = [json.loads(x) for x in proc.stdout.splitlines()]
    assert len(out) == len(lines)
    for got, (mac, parser, expected, facts) in zip(out, wanted, strict=True):
        assert got["mac"] == mac
        assert got["parser"] == parser, got
        assert "error" not in got, got
        assert set(got["readings"]) == set(expected), (got, expected)
        for k, v in expected.items():
            assert math.isclose(got["readings"][k], v, rel_tol=1e-12, abs_tol=1e-12), (k, got, v)
        for k, fact in facts.items():
            assert got["facts"][k] == fact, (k, got, fact)
        if parser == "ruuvi":
            assert ("mac" in got["facts"]) == ("mac" in facts)
    seen = {m for got in out for m in got["readings"]}
    for metric in ("distance_m", "humidity_pct", "temperature_c", "voltage_v", "uptime_s"):
        assert metric in seen
    assert any("distance_m" not in g["readings"] for g in out if g["parser"] == "ibeacon")


def test_bad_lines_give_one_error_object_each() -> None:
    lines = [
        "not json",
        "[1, 2]",
        json.dumps({"rssi": -1}),
        json.dumps({"mac": "AA:BB:CC:DD:EE:FF", "service_data": {BTHOME: "zz"}}),
        json.dumps({"mac": "AA:BB:CC:DD:EE:FF", "service_data": {BTHOME: "41e445"}}),
        json.dumps({"mac": "AA:BB:CC:DD:EE:FF", "manufacturer_data": {"6": "01"}}),
        "",
    ]
    proc = run(lines)
    assert proc.returncode == 0
    out = [json.loads(x) for x in proc.stdout.splitlines()]
    assert len(out) == len(lines)
    assert all("error" in o for o in out[:5])
    assert out[4]["parser"] == "bthome"
    assert out[5] == {"mac": "AA:BB:CC:DD:EE:FF", "parser": None, "readings": {}}
    assert "error" in out[6]


def test_bindkeys_from_option_and_file(tmp_path: Path) -> None:
    line = json.dumps(
        {"mac": "54:48:E6:8F:80:A5", "service_data": {BTHOME: "41e445f3c9962b332211006c7c4519"}}
    )
    key = "231d39c1d7cc1ab1aee224cd096db932"
    proc = run([line], "--bindkey", f"54:48:e6:8f:80:a5={key}")
    assert json.loads(proc.stdout)["readings"] == {"temperature_c": 25.06, "humidity_pct": 50.55}
    cfg = tmp_path / "sub.yaml"
    cfg.write_text(f'parsers:\n  bindkeys:\n    "54:48:E6:8F:80:A5": "{key}"\n')
    proc = run([line], "--bindkeys", str(cfg), "--format", "text")
    assert "temperature_c=25.06" in proc.stdout
    wrong = run([line], "--bindkey", f"54:48:E6:8F:80:A5={'00' * 16}")
    assert "decryption failed" in json.loads(wrong.stdout)["error"]


def test_usage_errors_exit_2() -> None:
    assert run([], "--bindkey", "nonsense").returncode == 2
    bad = run([], "--bindkey", "54:48:E6:8F:80:A5=abc")
    assert bad.returncode == 2
    assert "not hex" in bad.stderr
    assert run([], "--frobnicate").returncode == 2
    assert subprocess.run([*CMD[:3]], capture_output=True, check=False).returncode == 2
    version = subprocess.run([*CMD[:3], "--version"], capture_output=True, text=True, check=False)
    assert version.returncode == 0
    assert version.stdout.startswith("bt-mqtt ")
