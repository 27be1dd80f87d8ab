"""Every .nix file parses, and Nix reads nix/contract.json as Python does (needs nix-instantiate).

The path literals in the parsed Nix code that point into this repository must exist.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.nix.helpers import ROOT, contract, nix_files, nix_instantiate


def test_there_are_nix_files() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in nix_files()}
    assert {"flake.nix", "nix/package.nix", "image/pi0w.nix"} <= names


@pytest.mark.parametrize("path", nix_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_parses_and_its_repository_paths_exist(path: Path) -> None:
    res = nix_instantiate("--parse", str(path))
    assert res.returncode == 0, res.stderr
    # Path literals come out absolute in the parsed form; strings stay quoted.
    root = re.escape(str(ROOT))
    for found in re.findall(rf"(?<![\"'\w]){root}(?:/[\w.+-]+)*", res.stdout):
        assert (ROOT / found[len(str(ROOT)) :].lstrip("/")).exists(), f"{path}: {found} is missing"


def test_nix_reads_the_contract_as_python_does() -> None:
    expr = f"builtins.fromJSON (builtins.readFile {ROOT / 'nix' / 'contract.json'})"
    res = nix_instantiate("--eval", "--strict", "--json", "-E", expr)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == contract()


def test_a_syntax_error_is_reported() -> None:
    res = nix_instantiate("--parse", "-E", "{ a = ; }")
    assert res.returncode != 0


def test_evaluating_creates_no_nix_store_on_the_host(tmp_path: Path) -> None:
    # Evaluation reads a file (as the contract test does); a real store would be created in
    # /nix (root) or fail to be (anyone else).  The dummy store needs neither.
    existed = Path("/nix").exists()
    res = nix_instantiate("--eval", "-E", f"builtins.readFile {ROOT / 'pyproject.toml'}")
    assert res.returncode == 0, res.stderr
    assert Path("/nix").exists() == existed, "evaluating created /nix on the host"
