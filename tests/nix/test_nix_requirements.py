"""The Nix side's reading of the Python requirements (nix/requirements.nix), the pinned sdists
that replace too-old nixpkgs packages (nix/python-overrides.nix) and the package source filter
(nix/source.nix), evaluated with a bare nix-instantiate and compared with ``packaging``.

Needs nix-instantiate (left out of the Nix ``pytest`` check, which has none).
"""

from __future__ import annotations

import json
import re
import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from tests.nix.helpers import ROOT, contract, nix_eval, nix_instantiate, pyproject

REQS = '{ root }: let r = import (/. + root + "/nix/requirements.nix"); in '


def project_requirements() -> list[str]:
    """Every requirement pyproject.toml and requirements-test.txt state on other distributions."""
    project = pyproject()["project"]
    found = list(project["dependencies"])
    for reqs in project["optional-dependencies"].values():
        found += reqs
    for raw in (ROOT / "requirements-test.txt").read_text().splitlines():
        line = raw.split("#")[0].strip()
        if line:
            found.append(line)
    own = canonicalize_name(project["name"])
    return list(dict.fromkeys(r for r in found if canonicalize_name(Requirement(r).name) != own))


def test_nix_lists_the_projects_requirements() -> None:
    got = nix_eval(REQS + "r.allRequirements")
    assert sorted(got) == sorted(project_requirements())


def test_nix_parses_requirements_as_packaging_does() -> None:
    parsed = nix_eval(REQS + "map (t: { inherit t; p = r.parse t; }) r.allRequirements")
    for item in parsed:
        text, got = item["t"], item["p"]
        req = Requirement(text)
        assert got["name"] == canonicalize_name(req.name), text
        assert set(got["extras"]) == {canonicalize_name(e) for e in req.extras}, text
        specs = {(s["op"], s["version"]) for s in got["specifiers"]}
        assert specs == {(s.operator, s.version) for s in req.specifier}, text


VERSIONS = [
    "0.7.0", "0.8", "0.8.0", "0.8.1", "0.80.0", "0.9", "0.9.0", "0.9.0rc1", "1.0", "1.0.0",
    "1.0rc1", "1.0a1", "1.0b2", "1.0.dev1", "1.0.post1", "1.0.1", "2.21", "2.21.0.1", "2.3",
    "3.1", "23.1", "6.100.1", "41.0.7", "2024.08.1", "2024.8.01", "1.0rc2", "1.0.post2",
    "1.0rc1.post1", "1.0.post1.dev1",
]  # fmt: skip
SPECIFIERS = [
    ">=0.8", "<0.9", ">=1.0", "<1.0", ">1.0", "<=1.0", "==1.0", "!=1.0", "==0.8.*", "!=0.8.*",
    "~=2.21", "~=0.8.0", "~=1.0", ">=6.100", "==1.0.0", ">=1.0rc1", "<1.0.post1", "===1.0",
    ">=41", ">=0.80", ">1.0rc1", ">1.0.dev1", "<1.0.dev1", "<1.0rc2", ">1.0.post1",
    "<1.0.post1.dev1", "==1.0.*", "!=1.0.post1", ">=2024.8", "==2024.08.1",
]  # fmt: skip


# Every combination of release, pre-, post- and dev-release segments, against each other under
# every operator.
GRID = [
    r + pre + post + dev
    for r in ("1.0", "1.0.0", "1.1")
    for pre in ("", "a1", "rc1")
    for post in ("", ".post1")
    for dev in ("", ".dev1")
]
OPERATORS = ["~=", "==", "!=", "<=", ">=", "<", ">"]


@pytest.mark.parametrize(
    "versions, specifiers",
    [(VERSIONS, SPECIFIERS), (GRID, [op + v for op in OPERATORS for v in GRID])],
    ids=["curated", "grid"],
)
def test_version_tests_agree_with_packaging(
    versions: list[str], specifiers: list[str], tmp_path: Path
) -> None:
    cases = [
        {"v": v, "op": m.group(1), "version": m.group(2)}
        for v in versions
        for s in specifiers
        if (m := re.fullmatch(r"(~=|===|==|!=|<=|>=|<|>)(.+)", s))
    ]
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    got = nix_eval(
        '{ root, cases }: let r = import (/. + root + "/nix/requirements.nix"); in '
        "map (c: r.satisfiesOne c.v { inherit (c) op version; }) "
        "(builtins.fromJSON (builtins.readFile (/. + cases)))",
        cases=str(tmp_path / "cases.json"),
    )
    wrong = [
        f"{c['v']} {c['op']}{c['version']}: nix {g}"
        for c, g in zip(cases, got, strict=True)
        if g != SpecifierSet(c["op"] + c["version"]).contains(c["v"], prereleases=True)
    ]
    assert not wrong, wrong


def test_too_old_gmqtt_does_not_satisfy() -> None:
    assert nix_eval(REQS + 'r.unmet "gmqtt" "0.7.0"') == ["gmqtt>=0.8,<0.9"]
    assert nix_eval(REQS + 'r.unmet "GMQTT" "0.8.0"') == []


def test_environment_markers_are_refused_by_name() -> None:
    res = nix_instantiate(
        "--eval", "--strict", "-E", f'(import {ROOT}/nix/requirements.nix).parse "x; os_name==1"'
    )
    assert res.returncode != 0
    assert "environment markers are not supported" in res.stderr
    assert "x; os_name==1" in res.stderr


@pytest.mark.parametrize("role", sorted(contract()["packages"]))
def test_role_requirements_are_the_base_and_the_roles_extras(role: str) -> None:
    project = pyproject()["project"]
    want = list(project["dependencies"])
    for extra in contract()["packages"][role]["extras"]:
        want += project["optional-dependencies"][extra]
    got = nix_eval(REQS + f'r.roleRequirements "{role}"')
    assert got == list(dict.fromkeys(want))


@pytest.mark.parametrize("role", sorted(contract()["packages"]))
def test_the_build_makes_the_roles_requirements_unconditional(role: str) -> None:
    """package.nix's postPatch (substituteInPlace --replace-fail anchor replacement) turns
    pyproject.toml into one whose plain dependencies are the role's requirements, which
    nixpkgs' runtime-dependency check then enforces."""
    baked = nix_eval(REQS + f'r.bakedDependencies "{role}"')
    text = (ROOT / "pyproject.toml").read_text()
    assert text.count(baked["anchor"]) == 1, "the anchor must occur exactly once"
    patched = tomllib.loads(text.replace(baked["anchor"], baked["replacement"]))
    deps = patched["project"]["dependencies"]
    assert set(deps) == set(nix_eval(REQS + f'r.roleRequirements "{role}"'))
    assert len(deps) == len(set(deps))
    assert (
        patched["project"]["optional-dependencies"]
        == pyproject()["project"]["optional-dependencies"]
    )
    if "agent" in contract()["packages"][role]["extras"]:
        assert "gmqtt>=0.8,<0.9" in deps


def test_package_nix_applies_the_baked_dependencies() -> None:
    text = (ROOT / "nix" / "package.nix").read_text()
    assert re.search(r"bakedDependencies role", text)
    assert re.search(r"--replace-fail \$\{lib\.escapeShellArg baked\.anchor\}", text)


# ---- python-overrides.nix ------------------------------------------------------------------

OVERRIDES = """{ root, versions }:
let
  fetchPypi = a: { fetchPypi = a; };
  v = builtins.fromJSON versions;
  pkg = name: {
    version = v.${name};
    overridePythonAttrs = f: { overridden = true; } // f { postPatch = "old"; };
  };
  prev = builtins.mapAttrs (n: _: pkg n) v;
  final = prev // builtins.listToAttrs (map (n: { name = n; value = "final-" + n; }) [
    "bleak" "bluetooth-data-tools" "bluetooth-sensor-state-data" "habluetooth"
    "home-assistant-bluetooth" "sensor-state-data"
  ]);
  set = import (/. + root + "/nix/python-overrides.nix") { inherit fetchPypi; } final prev;
in builtins.mapAttrs (n: p: {
  inherit (p) version;
  overridden = p.overridden or false;
  src = p.src or null;
  dependencies = p.dependencies or null;
  postPatch = p.postPatch or null;
  doCheck = p.doCheck or null;
}) set
"""


def pins() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / "nix" / "python-pins.json").read_text())
    data.pop("_comment")
    return data


def test_too_old_nixpkgs_packages_are_replaced_by_the_pinned_sdists() -> None:
    old = {"gmqtt": "0.7.0", "mopeka-iot-ble": "0.8.0", "sensorpush-ble": "1.8.0"}
    got = nix_eval(OVERRIDES, versions=json.dumps(old))
    assert set(got) == set(pins())
    for name, pin in pins().items():
        p = got[name]
        assert p["overridden"], name
        assert p["version"] == pin["version"]
        assert p["src"] == {
            "fetchPypi": {"pname": pin["sdist"], "version": pin["version"], "hash": pin["hash"]}
        }
        assert p["dependencies"] == [f"final-{d}" for d in pin["dependencies"]]
        assert p["postPatch"] == ""
        assert p["doCheck"] is False


def test_nixpkgs_packages_that_meet_the_requirements_are_kept() -> None:
    recent = {"gmqtt": "0.8.3", "mopeka-iot-ble": "1.2.0", "sensorpush-ble": "1.9.0"}
    got = nix_eval(OVERRIDES, versions=json.dumps(recent))
    for name, version in recent.items():
        assert not got[name]["overridden"], name
        assert got[name]["version"] == version


def test_a_pin_that_misses_a_requirement_is_refused(tmp_path: Path) -> None:
    for name in ("pyproject.toml", "requirements-test.txt"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "nix", tmp_path / "nix")
    data = json.loads((tmp_path / "nix" / "python-pins.json").read_text())
    data["gmqtt"]["version"] = "0.7.5"
    (tmp_path / "nix" / "python-pins.json").write_text(json.dumps(data))
    expr = OVERRIDES.replace(
        "in builtins.mapAttrs", "in builtins.deepSeq set.gmqtt.version builtins.mapAttrs"
    )
    res = nix_instantiate(
        "--eval", "--strict", "-E", expr, "--argstr", "root", str(tmp_path),
        "--argstr", "versions", json.dumps({"gmqtt": "0.7.0", "mopeka-iot-ble": "1.0.0",
                                            "sensorpush-ble": "1.9.0"}),
    )  # fmt: skip
    assert res.returncode != 0
    assert "gmqtt 0.7.5 does not meet gmqtt>=0.8,<0.9" in res.stderr


# ---- source.nix -----------------------------------------------------------------------------

SOURCE = (
    '{ root, dir }: import (/. + root + "/nix/source.nix")'
    ' { root = /. + dir; entries = [ "pyproject.toml" "agent" ]; }'
)


def test_the_source_holds_only_the_listed_entries(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\n")
    (tmp_path / "agent").mkdir()
    (tmp_path / "agent" / "a.py").write_text("x = 1\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "t.py").write_text("y = 1\n")

    def path() -> str:
        out: str = nix_eval(SOURCE, dir=str(tmp_path))
        return out

    first = path()
    (tmp_path / "tests" / "t.py").write_text("y = 2\n")
    (tmp_path / "README.md").write_text("new\n")
    (tmp_path / "agent" / "__pycache__").mkdir()
    (tmp_path / "agent" / "__pycache__" / "a.pyc").write_bytes(b"\0")
    assert path() == first, "a file outside the listed entries changed the source"
    (tmp_path / "agent" / "a.py").write_text("x = 2\n")
    assert path() != first, "a change inside a listed entry did not change the source"


def test_a_missing_source_entry_is_named() -> None:
    res = nix_instantiate(
        "--eval", "--strict", "-E",
        f'import {ROOT}/nix/source.nix {{ root = {ROOT}; entries = [ "agent" "no-such-dir" ]; }}',
    )  # fmt: skip
    assert res.returncode != 0
    assert '["no-such-dir"]' in res.stderr


def test_the_package_source_is_the_contracts() -> None:
    got = nix_eval(
        "{ root }: let c = builtins.fromJSON"
        ' (builtins.readFile (/. + root + "/nix/contract.json"));'
        ' in builtins.seq (import (/. + root + "/nix/source.nix") { root = /. + root; '
        "entries = c.source; }) c.source"
    )
    assert got == contract()["source"]
