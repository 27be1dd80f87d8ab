"""Configuration the Nix code writes or ships, against the Python configuration classes.

Settings in nix/contract.json (VM test, module defaults), keys the modules set themselves, the
Pi image's example file: each is checked against the JSON schema generated from the attrs
classes and loaded by the program's own ``load_config``.
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from bt_mqtt.core.schema import json_schema, validate
from bt_mqtt.core.topics import SCANNER_ID_RE
from bt_mqtt.core.wire import advert_from_obj
from tests.nix.helpers import ROOT, contract


def config_class(which: str) -> type:
    module, name = contract()["configs"][which].split(":")
    cls: type = getattr(importlib.import_module(module), name)
    return cls


def loader(which: str) -> Any:
    module = contract()["configs"][which].split(":")[0]
    return importlib.import_module(module).load_config


def schema(which: str) -> dict[str, Any]:
    return json_schema(config_class(which))


def load(which: str, data: dict[str, Any], tmp_path: Path) -> Any:
    path = tmp_path / f"{which}.yaml"
    path.write_text(yaml.safe_dump(data))
    if which == "subscriber":
        return loader(which)(path, env={})
    return loader(which)(path)


def vm_agent_settings() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(json.dumps(contract()["settings"]["vmAgent"]))
    data["bluetooth"]["replay"]["file"] = str(ROOT / contract()["vmTest"]["replayFile"])
    return data


def test_vm_agent_settings_are_valid(tmp_path: Path) -> None:
    data = vm_agent_settings()
    assert validate(data, schema("agent")) == []
    cfg = load("agent", data, tmp_path)
    assert cfg.bluetooth.backend == "replay"


def test_vm_subscriber_settings_are_valid(tmp_path: Path) -> None:
    data = json.loads(json.dumps(contract()["settings"]["vmSubscriber"]))
    data.setdefault("database", {})["url"] = contract()["settings"]["localDatabaseUrl"]
    assert validate(data, schema("subscriber")) == []
    cfg = load("subscriber", data, tmp_path)
    assert cfg.database.url == contract()["settings"]["localDatabaseUrl"]


def test_vm_agent_and_subscriber_meet_on_one_broker() -> None:
    agent = contract()["settings"]["vmAgent"]["mqtt"]
    sub = contract()["settings"]["vmSubscriber"]["mqtt"]
    assert (agent["host"], agent["port"]) == (sub["host"], sub["port"])


def test_image_example_agent_config_loads(tmp_path: Path) -> None:
    data = yaml.safe_load((ROOT / contract()["image"]["agentExample"]).read_text())
    assert validate(data, schema("agent")) == []
    load("agent", data, tmp_path)


# Keys the modules assign inside `settings` (e.g. `mqtt.password_file = ...`), by module file.
MODULE_FILES = {
    "agent": ["nix/modules/agent.nix", "nix/tests/vm.nix", "image/pi0w.nix"],
    "subscriber": ["nix/modules/subscriber.nix"],
}


def assigned_keys(path: str, top_level: set[str]) -> list[list[str]]:
    found = []
    for m in re.finditer(r"^\s*([a-z_]+(?:\.[a-z_]+)+)\s*=", (ROOT / path).read_text(), re.M):
        parts = m.group(1).split(".")
        if parts[0] in top_level:
            found.append(parts)
    return found


def has_path(s: dict[str, Any], root: dict[str, Any], parts: list[str]) -> bool:
    if "$ref" in s:
        s = root["$defs"][s["$ref"].removeprefix("#/$defs/")]
    if not parts:
        return True
    for alt in s.get("anyOf", []):
        if has_path(alt, root, parts):
            return True
    props = s.get("properties", {})
    return parts[0] in props and has_path(props[parts[0]], root, parts[1:])


@pytest.mark.parametrize("which", sorted(MODULE_FILES))
def test_keys_the_modules_set_exist(which: str) -> None:
    sch = schema(which)
    top = set(sch["properties"])
    seen = 0
    for path in MODULE_FILES[which]:
        for parts in assigned_keys(path, top):
            seen += 1
            assert has_path(sch, sch, parts), f"{path}: {'.'.join(parts)} is no {which} key"
    assert seen, f"no settings keys found in {MODULE_FILES[which]}"


def test_scanner_id_option_matches_python() -> None:
    text = (ROOT / "nix/modules/agent.nix").read_text()
    m = re.search(r'scanner_id = lib\.mkOption \{\s*type = lib\.types\.strMatching "([^"]+)"', text)
    assert m, "agent.nix declares no scanner_id option"
    assert m.group(1) == SCANNER_ID_RE.pattern
    assert "scanner_id" in schema("agent")["required"]


def test_replay_file_decodes() -> None:
    lines = (ROOT / contract()["vmTest"]["replayFile"]).read_text().splitlines()
    adverts = [advert_from_obj(json.loads(x)) for x in lines if x.strip() and x[0] != "#"]
    macs = {a.mac for a in adverts}
    expect = contract()["vmTest"]["expect"]
    assert len(macs) == expect["distinctMacs"] == expect["devices"]


def test_vm_queries_run_on_the_migrated_schema(pg_database: str) -> None:
    with psycopg.connect(pg_database, autocommit=True) as conn:
        for sql in sorted((ROOT / "migrations").glob("*.sql")):
            with conn.transaction():
                conn.execute(sql.read_text())
        for name, query in contract()["vmTest"]["queries"].items():
            row = conn.execute(query).fetchone()
            assert row is not None and row[0] == 0, name
    assert set(contract()["vmTest"]["queries"]) == set(contract()["vmTest"]["expect"])
