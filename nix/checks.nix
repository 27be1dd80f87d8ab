# The flake's checks for one system: the Python test suite (the directories listed in
# contract.json; those needing nix-instantiate or TheengsDecoder are left out) against the built
# `cli` package, and the NixOS VM test of the whole pipeline.
{
  pkgs,
  lib ? pkgs.lib,
  src, # the whole repository (the flake's own source: tests/ and its vectors included)
  packages, # this system's flake packages
  modules, # { agent, subscriber } NixOS modules
}:

let
  contract = lib.importJSON ./contract.json;
  reqs = import ./requirements.nix;
  env = contract.pythonEnvironments.check;
  cli = packages.cli;
  testPython = cli.passthru.python.withPackages (
    ps:
    cli.passthru.pythonDependenciesOf env.extras
    ++ map (n: ps.${contract.nixpkgsPython.${n}}) env.packages
  );
  # What pyproject.toml and requirements-test.txt ask of the packages in this environment:
  # checked before the tests run, so a too-old nixpkgs package fails with its name.
  requirements = reqs.requirementsOnAny (
    contract.baseDependencies ++ lib.concatMap (e: contract.extras.${e}) env.extras ++ env.packages
  );
in
{
  pytest =
    pkgs.runCommand "bt-mqtt-pytest"
      {
        nativeBuildInputs = [
          testPython
          cli
          pkgs.mosquitto
          pkgs.dbus
          pkgs.postgresql_15 # initdb/pg_ctl: the fixtures run the cluster as the build user
        ];
      }
      ''
        cp -r ${src} source
        chmod -R u+w source
        cd source
        export HOME=$TMPDIR
        python ${./check_requirements.py} ${lib.escapeShellArgs requirements}
        # The installed package, not the source folders, provides bt_mqtt (and its metadata).
        export PYTHONPATH=${cli}/${pkgs.python3.sitePackages}
        python -m pytest -q -p no:cacheprovider \
          ${lib.escapeShellArgs contract.checkTests.paths} \
          ${lib.concatMapStringsSep " " (p: "--ignore=${lib.escapeShellArg p}") contract.checkTests.deselect}
        touch $out
      '';

  vm = import ./tests/vm.nix {
    inherit pkgs lib modules;
    replayFile = "${src}/${contract.vmTest.replayFile}";
  };
}
