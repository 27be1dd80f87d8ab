# The development shell (devenv v1.6.1): the Python every output uses (./python.nix) with every
# dependency, the test tools and the reference decoders, the programs as commands running the
# working tree, and PostgreSQL (a devenv service) + Mosquitto (a devenv process: v1.6.1 has no
# Mosquitto service) for `devenv up`.  Needs no network: nothing is pip-installed.
#
# Enter with `nix develop --no-pure-eval`: devenv keeps its state under the working directory,
# which pure evaluation cannot see.  Under pure evaluation (`nix flake check`, plain
# `nix develop`) the shell still evaluates, with a placeholder root, and refuses to start.
{
  pkgs,
  devenv,
  inputs,
}:

let
  lib = pkgs.lib;
  contract = lib.importJSON ./contract.json;
  reqs = import ./requirements.nix;
  env = contract.pythonEnvironments.devShell;
  cli = pkgs.callPackage ./package.nix { role = "cli"; };
  python = cli.passthru.python.withPackages (
    ps:
    cli.passthru.pythonDependenciesOf env.extras
    ++ map (n: ps.${contract.nixpkgsPython.${n}}) env.packages
  );
  requirements = reqs.requirementsOnAny (
    contract.baseDependencies ++ lib.concatMap (e: contract.extras.${e}) env.extras ++ env.packages
  );
  script =
    target:
    let
      parts = lib.splitString ":" target;
      module = lib.elemAt parts 0;
      fn = lib.elemAt parts 1;
    in
    ''exec python -c "import sys; from ${module} import ${fn}; sys.exit(${fn}())" "$@"'';

  # devenv v1.6.1 takes its root from $PWD, which pure evaluation does not see.
  pureEval = builtins.getEnv "PWD" == "";
  unknownRoot = "/bt-mqtt-devenv-root-unknown-under-pure-evaluation";

  mosquittoPort = 1883;
  coreutils = lib.getExe' pkgs.coreutils;
in
devenv.lib.mkShell {
  inherit inputs pkgs;
  modules = [
    (
      { config, ... }:
      {
        devenv.root = lib.mkIf pureEval unknownRoot;

        packages = [
          python
          pkgs.ruff
          pkgs.mosquitto
          pkgs.dbus
          pkgs.postgresql_15
          pkgs.nix # nix-instantiate --parse, as scripts/check runs it
        ];

        # Before devenv's own hook, which creates directories under the root.
        enterShell = lib.mkMerge [
          (lib.mkOrder 100 ''
            if [ "$DEVENV_ROOT" = ${lib.escapeShellArg unknownRoot} ]; then
              echo "BT-MQTT dev shell: enter it with 'nix develop --no-pure-eval' (devenv needs the working directory)" >&2
              exit 1
            fi
          '')
          ''
            # The namespace package spans the four top-level folders (as the editable install does).
            export PYTHONPATH="$DEVENV_ROOT/agent:$DEVENV_ROOT/common:$DEVENV_ROOT/subscriber:$DEVENV_ROOT/console:$DEVENV_ROOT''${PYTHONPATH:+:$PYTHONPATH}"
            python ${./check_requirements.py} --warn ${lib.escapeShellArgs requirements}
            echo "BT-MQTT dev shell: 'devenv up' starts PostgreSQL and Mosquitto; 'python -m pytest ${
              lib.concatMapStringsSep " " (p: "--ignore=${p}") contract.devShell.deselect
            }' runs the tests (TheengsDecoder is not in nixpkgs)."
          ''
        ];

        # The console scripts of [project.scripts], run from the working tree.
        scripts = lib.mapAttrs (_: target: { exec = script target; }) contract.entryPoints;

        env.BT_MQTT_DATABASE_URL = contract.devShell.databaseUrl;

        services.postgres = {
          enable = true;
          package = pkgs.postgresql_15;
          listen_addresses = "127.0.0.1";
          initialDatabases = [ { name = contract.devShell.database; } ];
        };

        # The broker keeps the subscriber's queued session (contract.json `broker`) in the
        # devenv state directory.
        processes.mosquitto.exec =
          let
            conf = pkgs.writeText "mosquitto.conf" (
              import ./mosquitto-conf.nix {
                port = mosquittoPort;
                address = "127.0.0.1";
                persistenceLocation = "${config.devenv.state}/mosquitto/";
              }
            );
          in
          # (`user`: started as root, Mosquitto would switch to a "mosquitto" user who cannot
          # write the state directory)
          ''
            ${coreutils "mkdir"} -p "$DEVENV_STATE/mosquitto"
            { ${coreutils "cat"} ${conf}; echo "user $(${coreutils "id"} -un)"; } > "$DEVENV_STATE/mosquitto/mosquitto.conf"
            exec ${lib.getExe' pkgs.mosquitto "mosquitto"} -c "$DEVENV_STATE/mosquitto/mosquitto.conf"
          '';
      }
    )
  ];
}
