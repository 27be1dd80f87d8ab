"""``bt-mqtt decode --theengs``: the optional TheengsDecoder last resort, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CMD = [sys.executable, "-m", "bt_mqtt.cli.main", "decode", "--no-plugins"]
MYCO2 = {  # ble_monitor's Sensirion MyCO2 vector: no built-in parser knows it
    "mac": "F8:EA:DC:3C:67:35",
    "rssi": -80,
    "name": "MyCO2",
    "manufacturer_data": {"1749": "000867355367925c0b04"},
}
ATC1441 = {
    "mac": "A4:C1:38:8D:18:B2",
    "rssi": -60,
    "service_data": {"0000181a-0000-1000-8000-00805f9b34fb": "a4c1388d18b201122f640ca025"},
}


def run(
    lines: list[str], *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CMD, *args],
        input="".join(f"{x}\n" for x in lines),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


def test_theengs_decodes_what_no_parser_claims_and_builtins_still_win() -> None:
    lines = [json.dumps(MYCO2), json.dumps(ATC1441), json.dumps(MYCO2)]
    proc = run(lines, "--theengs", "--facts")
    assert proc.returncode == 0, proc.stderr
    out = [json.loads(x) for x in proc.stdout.splitlines()]
    assert [o["parser"] for o in out] == ["theengs:SCD4X", "atc", "theengs:SCD4X"]
    assert out[0]["readings"]["co2_ppm"] == 1035
    assert round(out[0]["readings"]["temperature_c"], 2) == 25.63
    assert out[0]["facts"]["manufacturer"] == "Sensirion"
    without = run([json.dumps(MYCO2)])
    assert without.returncode == 0, without.stderr
    assert json.loads(without.stdout)["parser"] is None


def test_theengs_without_the_package_exits_2_naming_the_option_and_the_install(
    tmp_path: Path,
) -> None:
    broken = tmp_path / "TheengsDecoder"
    broken.mkdir()
    (broken / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'TheengsDecoder'\")\n", encoding="utf-8"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), *sys.path]))
    proc = run([json.dumps(MYCO2)], "--theengs", env=env)
    assert proc.returncode == 2
    assert "--theengs" in proc.stderr
    assert "pip install 'bt-mqtt[theengs]'" in proc.stderr
    assert proc.stdout == ""
    plain = run([json.dumps(MYCO2)], env=env)  # not enabled: the missing package is no problem
    assert plain.returncode == 0, plain.stderr
