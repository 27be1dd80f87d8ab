"""Check that the running Python's installed distributions meet requirement strings.

    python check_requirements.py [--warn] 'gmqtt>=0.8,<0.9' 'mopeka-iot-ble>=1.0' ...

The Nix test environments (the ``pytest`` check, the dev shell) run this with the requirements
of pyproject.toml and requirements-test.txt on the packages they contain, which nixpkgs'
runtime-dependency check never looks at.  Every unmet requirement is printed (distribution,
installed version or "not installed", the requirement); exit status 1 when any is unmet, unless
``--warn``.  Pre-releases count as satisfying, as in nixpkgs' own check.  Needs ``packaging``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import sys

from packaging.requirements import Requirement


def problems(requirements: list[str]) -> list[str]:
    """One line per requirement the installed distributions do not meet."""
    found = []
    for text in requirements:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate():
            continue
        try:
            version = importlib.metadata.version(req.name)
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{req.name}: not installed (needed: {text})")
            continue
        if not req.specifier.contains(version, prereleases=True):
            found.append(f"{req.name} {version} does not meet {text}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("requirements", nargs="*", help="PEP 508 requirement strings")
    parser.add_argument("--warn", action="store_true", help="report, but exit 0")
    args = parser.parse_args(argv)
    found = problems(args.requirements)
    for line in found:
        sys.stderr.write(f"unmet requirement: {line}\n")
    return 1 if found and not args.warn else 0


if __name__ == "__main__":
    sys.exit(main())
