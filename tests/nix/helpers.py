"""What the Nix tests share: the repository root, nix/contract.json, pyproject.toml, and
evaluating Nix expressions with nix-instantiate."""

from __future__ import annotations

import json
import os
import re
import subprocess
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

from tests.fixtures.procs import require_binary

ROOT = Path(__file__).resolve().parents[2]


@cache
def contract() -> dict[str, Any]:
    """nix/contract.json: the names the Nix code takes from the Python side."""
    data: dict[str, Any] = json.loads((ROOT / "nix" / "contract.json").read_text())
    return data


@cache
def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def requirement_name(req: str) -> str:
    """The normalised distribution name of a PEP 508 requirement (no extras, no versions)."""
    m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req)
    assert m, f"unparsable requirement {req!r}"
    return re.sub(r"[-_.]+", "-", m.group(1)).lower()


def nix_files() -> list[Path]:
    """Every .nix file of the repository (outside virtualenvs and caches)."""
    skip = {".venv", ".git", "node_modules", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
    return sorted(p for p in ROOT.rglob("*.nix") if not skip & set(p.relative_to(ROOT).parts))


def substitute(argv: list[str], config: str) -> list[str]:
    return [config if a == "@CONFIG@" else a for a in argv]


# Parsing and evaluating need no Nix store: the dummy store keeps Nix from creating /nix on the
# host (which a user without root cannot, and which a test must not do as root either).
NIX_STORE_ARGS = ("--store", "dummy://")


def nix_instantiate(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``nix-instantiate`` without touching a Nix store: ``--store dummy://`` (evaluation
    only; store paths are computed, never written) and no build-users group, so it works as any
    user on a machine without /nix.  Fails the test when nix-instantiate is not installed."""
    exe = require_binary("nix-instantiate", "nix-bin")
    env = {**os.environ, "NIX_CONFIG": "build-users-group ="}
    return subprocess.run(
        [exe, *NIX_STORE_ARGS, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def nix_eval(expr: str, **args: str) -> Any:
    """The JSON value of the Nix function ``expr`` applied to ``args`` (strings), evaluated
    strictly; ``root`` (the repository, as a string) is always passed."""
    res = nix_instantiate(
        "--eval",
        "--strict",
        "--json",
        "-E",
        expr,
        "--argstr",
        "root",
        str(ROOT),
        *(x for k, v in args.items() for x in ("--argstr", k, v)),
    )
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)
