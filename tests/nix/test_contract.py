"""nix/contract.json against pyproject.toml and the installed Python side.

The Nix packages, modules, apps and dev shell take every program name, extra, dependency,
import and source path from the contract; these tests make the two sides unable to drift.
"""

from __future__ import annotations

import importlib
import re

import pytest

from bt_mqtt.core.version import VERSION
from tests.nix.helpers import ROOT, contract, pyproject, requirement_name


def test_version_and_name_match_pyproject() -> None:
    assert contract()["version"] == pyproject()["project"]["version"] == VERSION
    assert contract()["pname"] == pyproject()["project"]["name"]


def test_entry_points_are_pyprojects_scripts() -> None:
    assert contract()["entryPoints"] == pyproject()["project"]["scripts"]


@pytest.mark.parametrize("program", sorted(contract()["entryPoints"]))
def test_entry_point_targets_resolve(program: str) -> None:
    module, func = contract()["entryPoints"][program].split(":")
    assert callable(getattr(importlib.import_module(module), func))


def test_base_dependencies_are_pyprojects() -> None:
    deps = [requirement_name(r) for r in pyproject()["project"]["dependencies"]]
    assert contract()["baseDependencies"] == deps


@pytest.mark.parametrize("extra", sorted(contract()["extras"]))
def test_extras_list_pyprojects_requirements(extra: str) -> None:
    declared = pyproject()["project"]["optional-dependencies"]
    assert extra in declared, f"extra {extra!r} is not in pyproject.toml"
    assert contract()["extras"][extra] == [requirement_name(r) for r in declared[extra]]


@pytest.mark.parametrize("role", sorted(contract()["packages"]))
def test_package_roles_are_consistent(role: str) -> None:
    spec = contract()["packages"][role]
    for extra in spec["extras"]:
        assert extra in contract()["extras"], f"{role}: unknown extra {extra!r}"
    for program in spec["programs"]:
        assert program in contract()["entryPoints"], f"{role}: unknown program {program!r}"
    # Every dependency of the role has a nixpkgs attribute.
    names = set(contract()["baseDependencies"])
    for extra in spec["extras"]:
        names |= set(contract()["extras"][extra])
    missing = names - set(contract()["nixpkgsPython"])
    assert not missing, f"{role}: no nixpkgs Python package named for {sorted(missing)}"
    # pythonImportsCheck: the modules exist.
    for module in spec["imports"]:
        importlib.import_module(module)


def test_the_agent_package_stays_small() -> None:
    """DESIGN: no textual, no psycopg, no bleak on the Pi."""
    agent = contract()["packages"]["agent"]
    names = set(contract()["baseDependencies"])
    for extra in agent["extras"]:
        names |= set(contract()["extras"][extra])
    assert not names & {"textual", "psycopg", "bleak"}


def test_source_covers_the_wheel() -> None:
    source = contract()["source"]
    for path in source:
        assert (ROOT / path).exists(), path
    wheel = pyproject()["tool"]["hatch"]["build"]["targets"]["wheel"]
    for pkg in wheel["packages"]:
        assert pkg.split("/")[0] in source, f"wheel package {pkg} is not in the Nix source"
    for path in wheel.get("force-include", {}):
        assert path.split("/")[0] in source, f"force-included {path} is not in the Nix source"
    readme = pyproject()["project"].get("readme")
    if isinstance(readme, str):
        assert readme in source


def test_check_test_paths_exist() -> None:
    for path in contract()["checkTests"]["paths"] + contract()["checkTests"]["deselect"]:
        assert (ROOT / path).exists(), path


def test_image_files_named_in_the_contract_exist() -> None:
    image = contract()["image"]
    boot = ROOT / "image" / "boot" / image["bootDir"]
    assert (ROOT / image["agentExample"]).is_file()
    assert (boot / f"{image['wifiConfig']}.example").is_file()
    readme = (boot / "README.txt").read_text()
    for key in ("wifiConfig", "authorizedKeys", "agentConfig", "mqttPassword"):
        assert image[key] in readme, f"README.txt does not mention {image[key]}"
    assert image["stateDir"] in readme
    script = (ROOT / "image" / "import-boot-files.sh").read_text()
    for key in ("wifiConfig", "authorizedKeys", "agentConfig", "mqttPassword"):
        assert re.search(rf"\b{re.escape(image[key])}\b", script), f"script ignores {image[key]}"


def test_firmware_config_boots_the_u_boot_the_image_installs() -> None:
    config_txt = (ROOT / "image" / "config.txt").read_text()
    kernel = re.search(r"^kernel=(\S+)$", config_txt, re.M)
    assert kernel, "config.txt names no kernel"
    assert f"firmware/{kernel.group(1)}" in (ROOT / "image" / "pi0w.nix").read_text()


def test_deployment_doc_names_every_output() -> None:
    doc = (ROOT / "docs" / "deployment.md").read_text()
    for name in ("subscriber", "console", "agent", "demo", "subscriber-image", "sd-image-pi0w"):
        assert f".#{name}" in doc, f"docs/deployment.md never shows .#{name}"
