# The development shell (devenv): nixpkgs' Python with every dependency and test tool, the
# programs as commands running the working tree, and PostgreSQL + Mosquitto as devenv services
# (`devenv up` starts them).  Enter with `nix develop --no-pure-eval` (devenv needs the
# working directory).  Needs no network: nothing is pip-installed.
{
  pkgs,
  devenv,
  inputs,
}:

let
  lib = pkgs.lib;
  contract = lib.importJSON ./contract.json;
  cli = pkgs.callPackage ./package.nix { role = "cli"; };
  python = pkgs.python3.withPackages (
    ps:
    cli.passthru.pythonDependenciesOf [
      "agent"
      "bleak"
      "subscriber"
      "console"
      "parsers"
    ]
    ++ map (n: ps.${contract.nixpkgsPython.${n}}) (
      lib.filter (n: n != "ruff") contract.extras.test
    )
  );
  script =
    target:
    let
      parts = lib.splitString ":" target;
      module = lib.elemAt parts 0;
      fn = lib.elemAt parts 1;
    in
    ''exec python -c "import sys; from ${module} import ${fn}; sys.exit(${fn}())" "$@"'';
in
devenv.lib.mkShell {
  inherit inputs pkgs;
  modules = [
    {
      packages = [
        python
        pkgs.ruff
        pkgs.mosquitto
        pkgs.dbus
        pkgs.postgresql_15
        pkgs.nix # nix-instantiate --parse, as scripts/check runs it
      ];

      # The namespace package spans the four top-level folders (as the editable install does).
      enterShell = ''
        export PYTHONPATH="$DEVENV_ROOT/agent:$DEVENV_ROOT/common:$DEVENV_ROOT/subscriber:$DEVENV_ROOT/console:$DEVENV_ROOT''${PYTHONPATH:+:$PYTHONPATH}"
        echo "BT-MQTT dev shell: 'devenv up' starts PostgreSQL and Mosquitto; 'python -m pytest' runs the tests."
      '';

      # The console scripts of [project.scripts], run from the working tree.
      scripts = lib.mapAttrs (_: target: { exec = script target; }) contract.entryPoints;

      env.BT_MQTT_DATABASE_URL = contract.devShell.databaseUrl;

      services.postgres = {
        enable = true;
        package = pkgs.postgresql_15;
        listen_addresses = "127.0.0.1";
        initialDatabases = [ { name = contract.devShell.database; } ];
      };

      services.mosquitto = {
        enable = true;
        bind = "127.0.0.1";
        port = 1883;
      };
    }
  ];
}
