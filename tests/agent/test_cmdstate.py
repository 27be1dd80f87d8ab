"""agent.cmdstate: the state file is written atomically and read back with the YAML's rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from bt_mqtt.agent import cmdstate
from bt_mqtt.agent.config import DedupConfig, FiltersConfig, MatchList


def test_round_trip_and_missing_file(tmp_path: Path) -> None:
    path = str(tmp_path / "agent.state.json")
    assert cmdstate.load(path) == cmdstate.Overrides()
    kept = cmdstate.Overrides(
        filters=FiltersConfig(blocklist=MatchList(macs=["AA:BB:CC:DD:EE:FF"])),
        dedup=DedupConfig(window_s=2.0),
    )
    cmdstate.save(path, kept)
    assert cmdstate.load(path) == kept
    assert not Path(path + ".tmp").exists()


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("{", "not JSON"),
        ("[]", "not a JSON object"),
        ('{"filter": {}}', "unknown key(s) filter"),
        ('{"dedup": {"window_s": -1}}', "dedup.window_s"),
        ('{"filters": {"min_rssi": "loud"}}', "filters.min_rssi"),
    ],
)
def test_a_broken_file_names_itself_and_the_problem(tmp_path: Path, text: str, why: str) -> None:
    path = tmp_path / "agent.state.json"
    path.write_text(text)
    with pytest.raises(cmdstate.StateError) as info:
        cmdstate.load(str(path))
    assert str(path) in str(info.value) and why in str(info.value)
