# One BT-MQTT program built from this repository's pyproject.toml (hatchling) with nixpkgs'
# Python packages (./python.nix: nixpkgs' set with the too-old distributions replaced).  `role` is
# a key of `packages` in ./contract.json: it picks the extras whose dependencies are installed and
# the console scripts that are kept in $out/bin.
#
#   pkgs.callPackage ./package.nix { role = "agent"; }
#
# The role's extras' requirements are written into the built wheel's metadata as plain
# dependencies, so nixpkgs' runtime-dependency check (which ignores requirements behind an extra)
# fails the build when the package set does not meet one, e.g. gmqtt>=0.8,<0.9.  The test suite
# does not run here (see ./checks.nix); the build also checks that the role's modules import.
{
  lib,
  python3,
  fetchPypi,
  role ? "cli",
}:

let
  contract = lib.importJSON ./contract.json;
  reqs = import ./requirements.nix;
  spec = contract.packages.${role};
  python = import ./python.nix { inherit python3 fetchPypi; };
  ps = python.pkgs;

  # PyPI name -> nixpkgs Python package, for the base dependencies and the role's extras.
  pyDeps =
    extras:
    map (name: ps.${contract.nixpkgsPython.${name}}) (
      lib.unique (contract.baseDependencies ++ lib.concatMap (e: contract.extras.${e}) extras)
    );

  baked = reqs.bakedDependencies role;
in
ps.buildPythonApplication {
  pname = "${contract.pname}-${role}";
  inherit (contract) version;
  pyproject = true;
  src = import ./source.nix {
    root = ../.;
    entries = contract.source;
  };

  postPatch = ''
    substituteInPlace pyproject.toml \
      --replace-fail ${lib.escapeShellArg baked.anchor} ${lib.escapeShellArg baked.replacement}
  '';

  build-system = [ ps.hatchling ];
  dependencies = pyDeps spec.extras;

  # Only this role's programs: the agent on the Pi must not offer a subscriber that cannot
  # import psycopg.
  postInstall = ''
    for exe in "$out"/bin/*; do
      case "$(basename "$exe")" in
        ${lib.concatStringsSep "|" spec.programs}) ;;
        *) rm -f "$exe" ;;
      esac
    done
  '';

  pythonImportsCheck = spec.imports;
  doCheck = false;

  passthru = {
    inherit contract role python;
    # Every nixpkgs Python package a role needs, for the test environment and the dev shell.
    pythonDependenciesOf = pyDeps;
    # The requirement strings this package's build enforces.
    requirements = reqs.roleRequirements role;
  };

  meta = {
    inherit (spec) description;
    license = lib.licenses.mit;
    platforms = lib.platforms.linux;
    mainProgram = lib.head spec.programs;
  };
}
