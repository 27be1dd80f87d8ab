# The flake's checks for one system: the Python test suite (the directories listed in
# contract.json; those needing nix-instantiate are left out) against the built `cli` package,
# and the NixOS VM test of the whole pipeline.
{
  pkgs,
  lib ? pkgs.lib,
  src, # the whole repository (the flake's own source)
  packages, # this system's flake packages
  modules, # { agent, subscriber } NixOS modules
}:

let
  contract = lib.importJSON ./contract.json;
  cli = packages.cli;
  testPython = pkgs.python3.withPackages (
    ps:
    cli.passthru.pythonDependenciesOf [
      "agent"
      "subscriber"
      "console"
      "parsers"
      "bleak"
    ]
    ++ map (n: ps.${contract.nixpkgsPython.${n}}) [
      "pytest"
      "pytest-timeout"
      "hypothesis"
      "python-dbusmock" # the independent fake BlueZ of tests/agent/test_agent_dbusmock.py
      # reference decoders of the differential tests (TheengsDecoder's tests are deselected:
      # not assumed to be in nixpkgs)
      "bthome-ble"
      "ruuvitag-ble"
      "mopeka-iot-ble"
      "sensorpush-ble"
    ]
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
