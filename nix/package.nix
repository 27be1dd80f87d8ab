# One BT-MQTT program built from this repository's pyproject.toml (hatchling) with nixpkgs'
# Python packages.  `role` is a key of `packages` in ./contract.json: it picks the extras whose
# dependencies are installed and the console scripts that are kept in $out/bin.
#
#   pkgs.callPackage ./package.nix { role = "agent"; }
#
# The test suite does not run here (see ./checks.nix); the build only checks that the role's
# modules import.
{
  lib,
  python3Packages,
  role ? "cli",
}:

let
  contract = lib.importJSON ./contract.json;
  spec = contract.packages.${role};
  ps = python3Packages;

  # PyPI name -> nixpkgs Python package, for the base dependencies and the role's extras.
  pyDeps =
    extras:
    map (name: ps.${contract.nixpkgsPython.${name}}) (
      lib.unique (contract.baseDependencies ++ lib.concatMap (e: contract.extras.${e}) extras)
    );

  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions (map (p: ../. + "/${p}") contract.source);
  };
in
ps.buildPythonApplication {
  pname = "${contract.pname}-${role}";
  inherit (contract) version;
  pyproject = true;
  inherit src;

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
    inherit contract role;
    # Every nixpkgs Python package a role needs, for the test environment and the dev shell.
    pythonDependenciesOf = pyDeps;
  };

  meta = {
    inherit (spec) description;
    license = lib.licenses.mit;
    platforms = lib.platforms.linux;
    mainProgram = lib.head spec.programs;
  };
}
