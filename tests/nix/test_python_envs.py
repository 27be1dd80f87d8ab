"""The Python package set of the Nix outputs: pinned sdists (nix/python-pins.json), the test
environments of the ``pytest`` check and the dev shell (contract.json ``pythonEnvironments``),
and nix/check_requirements.py, which those environments run.
"""

from __future__ import annotations

import ast
import base64
import importlib.metadata
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.nix.helpers import ROOT, contract, pyproject

CHECK_REQUIREMENTS = ROOT / "nix" / "check_requirements.py"


def pins() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / "nix" / "python-pins.json").read_text())
    data.pop("_comment")
    return data


def stated_requirements() -> list[Requirement]:
    """What pyproject.toml and requirements-test.txt ask of other distributions."""
    project = pyproject()["project"]
    texts = list(project["dependencies"])
    for reqs in project["optional-dependencies"].values():
        texts += reqs
    for line in (ROOT / "requirements-test.txt").read_text().splitlines():
        if line.split("#")[0].strip():
            texts.append(line.split("#")[0].strip())
    own = canonicalize_name(project["name"])
    return [r for r in map(Requirement, texts) if canonicalize_name(r.name) != own]


def requirements_on(name: str) -> list[Requirement]:
    return [r for r in stated_requirements() if canonicalize_name(r.name) == name]


# ---- pins -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(pins()))
def test_the_version_the_nix_set_provides_meets_the_requirements(name: str) -> None:
    """nixos-25.05's version where it meets every requirement, else the pinned sdist's (the
    choice nix/python-overrides.nix makes): either way the requirements hold."""
    pin = pins()[name]
    reqs = requirements_on(name)
    assert reqs, f"{name} is pinned but nothing requires it"
    for req in reqs:
        assert req.specifier.contains(pin["version"], prereleases=True), f"pin {name}: {req}"
    seen = pin["nixpkgs-25.05"]
    if seen is not None:
        unmet = [str(r) for r in reqs if not r.specifier.contains(seen, prereleases=True)]
        assert unmet, f"nixpkgs' {name} {seen} meets every requirement: drop the pin"


def test_gmqtt_is_pinned_for_the_agent_and_subscriber() -> None:
    pin = pins()["gmqtt"]
    assert pin["nixpkgs-25.05"] == "0.7.0"
    for extra in ("agent", "subscriber", "console"):
        (req,) = [
            Requirement(r)
            for r in pyproject()["project"]["optional-dependencies"][extra]
            if r.startswith("gmqtt")
        ]
        assert req.specifier.contains(pin["version"])
        assert not req.specifier.contains(pin["nixpkgs-25.05"])


@pytest.mark.parametrize("name", sorted(pins()))
def test_pins_name_an_sdist_with_an_sri_sha256(name: str) -> None:
    pin = pins()[name]
    assert canonicalize_name(pin["sdist"]) == name
    m = re.fullmatch(r"sha256-([A-Za-z0-9+/]{43}=)", pin["hash"])
    assert m, f"{name}: {pin['hash']} is not an SRI sha256"
    assert len(base64.b64decode(m.group(1))) == 32
    for dep in pin["dependencies"]:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", dep), f"{name}: {dep} is no nixpkgs name"


# ---- environments -------------------------------------------------------------------------------


def env_distributions(which: str) -> set[str]:
    """The distributions a contract environment lists (base dependencies, its extras', its
    packages), by normalised name: what the tests import must be among them, not merely
    another package's dependency."""
    env = contract()["pythonEnvironments"][which]
    names = set(contract()["baseDependencies"]) | set(env["packages"])
    for extra in env["extras"]:
        names |= set(contract()["extras"][extra])
    return {canonicalize_name(n) for n in names}


_STRING_IMPORT = re.compile(r"""["']import ([A-Za-z_]\w*)["']""")
# Modules whose distribution need not be installed where the tests run (python-dbusmock is
# Debian's system package outside Nix).
MODULE_DISTRIBUTIONS = {"dbusmock": "python-dbusmock"}


def imported_modules(files: list[Path]) -> dict[str, set[str]]:
    """Top-level module -> the test files that import it (import statements anywhere, and
    the import strings handed to child Pythons, as the dbusmock fixture's ``-c``)."""
    found: dict[str, set[str]] = {}
    for path in files:
        text = path.read_text()
        names = set(_STRING_IMPORT.findall(text))
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        for name in names:
            found.setdefault(name, set()).add(path.relative_to(ROOT).as_posix())
    return found


def missing_from(which: str, files: list[Path]) -> list[str]:
    have = env_distributions(which)
    excused = set(contract()["pythonEnvironments"]["notInNixpkgs"])
    to_dist = importlib.metadata.packages_distributions()
    problems = []
    for module, users in sorted(imported_modules(files).items()):
        if module in sys.stdlib_module_names or module in {"bt_mqtt", "tests", "__future__"}:
            continue
        fallback = [MODULE_DISTRIBUTIONS.get(module, module)]
        dists = {canonicalize_name(d) for d in to_dist.get(module, fallback)}
        if not dists & (have | excused):
            problems.append(f"{module} ({', '.join(sorted(dists))}) for {sorted(users)[0]}")
    return problems


def files_under(paths: list[str], ignore: list[str]) -> list[Path]:
    files = [p for d in paths for p in sorted((ROOT / d).rglob("*.py"))]
    return [
        p for p in files if not any(p.relative_to(ROOT).as_posix().startswith(i) for i in ignore)
    ]


def test_the_check_environment_has_what_its_tests_import() -> None:
    ct = contract()["checkTests"]
    assert missing_from("check", files_under(ct["paths"], ct["deselect"])) == []


def test_the_dev_shell_has_what_every_test_imports() -> None:
    files = files_under(["tests"], contract()["devShell"]["deselect"])
    assert missing_from("devShell", files) == []


def test_the_environments_name_nixpkgs_packages() -> None:
    for which in ("check", "devShell"):
        env = contract()["pythonEnvironments"][which]
        for name in env["packages"]:
            assert name in contract()["nixpkgsPython"], f"{which}: {name}"
        for extra in env["extras"]:
            assert extra in contract()["extras"], f"{which}: extra {extra}"


def test_the_theengs_tests_are_left_out() -> None:
    """TheengsDecoder has no nixpkgs package: its tests are deselected in both environments."""
    assert "theengsdecoder" in contract()["pythonEnvironments"]["notInNixpkgs"]
    paths = tuple(contract()["checkTests"]["paths"])
    found = sorted(
        p.relative_to(ROOT).as_posix() for p in ROOT.joinpath("tests").rglob("*theengs*.py")
    )
    assert found
    for rel in found:
        assert rel in contract()["devShell"]["deselect"], rel
        if rel.startswith(paths):
            assert rel in contract()["checkTests"]["deselect"], rel


def test_tests_needing_nix_instantiate_are_left_out_of_the_nix_check() -> None:
    """The sandbox of the ``pytest`` check has no nix-instantiate."""
    deselect = contract()["checkTests"]["deselect"]
    runners = {"nix_instantiate", "nix_eval"}
    for path in sorted(ROOT.joinpath("tests").rglob("test_*.py")):
        tree = ast.parse(path.read_text())
        calls = any(
            isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in runners
            for n in ast.walk(tree)
        )
        names = any(
            isinstance(n, ast.Call)
            and any(isinstance(a, ast.Constant) and a.value == "nix-instantiate" for a in n.args)
            for n in ast.walk(tree)
        )
        if calls or names:
            assert path.relative_to(ROOT).as_posix() in deselect, path.name


def test_the_nix_files_read_the_environments_from_the_contract() -> None:
    assert "contract.pythonEnvironments.check" in (ROOT / "nix" / "checks.nix").read_text()
    shell = (ROOT / "nix" / "devshell.nix").read_text()
    assert "contract.pythonEnvironments.devShell" in shell
    assert "contract.devShell.deselect" in shell


# ---- check_requirements.py ----------------------------------------------------------------------


def run_check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHECK_REQUIREMENTS), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_check_requirements_accepts_what_is_installed() -> None:
    gmqtt = importlib.metadata.version("gmqtt")
    res = run_check("attrs>=1", f"gmqtt=={gmqtt}", "pyyaml")
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""


def test_check_requirements_names_each_unmet_requirement() -> None:
    gmqtt = importlib.metadata.version("gmqtt")
    res = run_check("gmqtt>=99", "attrs>=1", "no-such-distribution-bt-mqtt>=1")
    assert res.returncode == 1
    lines = res.stderr.splitlines()
    assert f"unmet requirement: gmqtt {gmqtt} does not meet gmqtt>=99" in lines
    assert (
        "unmet requirement: no-such-distribution-bt-mqtt: not installed "
        "(needed: no-such-distribution-bt-mqtt>=1)" in lines
    )
    assert len(lines) == 2


def test_check_requirements_can_only_warn() -> None:
    res = run_check("--warn", "gmqtt>=99")
    assert res.returncode == 0
    assert "gmqtt" in res.stderr


def test_check_requirements_passes_for_what_the_check_environment_is_asked() -> None:
    """What the ``pytest`` check runs it with, met here too (in the venv and in the check)."""
    have = env_distributions("check")
    texts = [str(r) for r in stated_requirements() if canonicalize_name(r.name) in have]
    assert any(t.startswith("gmqtt") for t in texts)
    res = run_check(*texts)
    assert res.returncode == 0, res.stderr


# ---- the Pi image's file name -------------------------------------------------------------------


def test_the_image_file_is_named_as_the_docs_say() -> None:
    base = contract()["image"]["baseName"]
    pi = (ROOT / "image" / "pi0w.nix").read_text()
    assert "image.baseName = contract.image.baseName;" in pi
    assert "imageBaseName" not in re.sub(r"#.*", "", pi), "renamed to image.baseName in 25.05"
    doc = (ROOT / "docs" / "deployment.md").read_text()
    assert f"result/sd-image/{base}.img.zst" in doc
    # every file the doc points at in result/sd-image/ is the one the image has
    for m in re.finditer(r"result/sd-image/(\S+\.img\.zst)", doc):
        assert m.group(1) == f"{base}.img.zst", m.group(0)
