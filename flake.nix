# BT-MQTT: the Pi Zero W SD image with the scanner agent, the subscriber (package, app, OCI
# image), NixOS modules, checks and a devenv shell.  docs/deployment.md explains each use.
#
# nixpkgs is pinned to the NixOS 25.05 release branch and devenv to v1.6.1; flake.lock pins the
# exact revisions once `nix flake lock` has run.  Use Nix >= 2.18 with the `nix-command` and
# `flakes` features; the flake's own code needs no builtin newer than Nix 2.8 (the source filter
# is builtins.path, not lib.fileset, which needs 2.14).  docs/deployment.md says what has been
# evaluated, how, and what still needs a machine with network.
{
  description = "BT-MQTT: BLE advertisements to MQTT to PostgreSQL, with a Raspberry Pi Zero W image";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.05";
    devenv.url = "github:cachix/devenv/v1.6.1";
  };


  outputs =
    {
      self,
      nixpkgs,
      devenv,
      ...
    }@inputs:
    let
      lib = nixpkgs.lib;
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: lib.genAttrs systems (system: f system nixpkgs.legacyPackages.${system});

      modules = {
        agent = ./nix/modules/agent.nix;
        subscriber = ./nix/modules/subscriber.nix;
      };

      # The Pi image built on `system` (cross-compiled to armv6l).
      pi0wBuiltOn =
        system:
        lib.nixosSystem {
          modules = [
            ./image/pi0w.nix
            { nixpkgs.buildPlatform = system; }
          ];
        };
    in
    {
      # Attribute sets importing the files (not bare paths): `nix flake check` of older Nix
      # (2.8) accepts only functions or attribute sets as modules.
      nixosModules = lib.mapAttrs (_: path: { imports = [ path ]; }) modules // {
        default = {
          imports = [
            modules.agent
            modules.subscriber
          ];
        };
      };

      nixosConfigurations.pi0w = pi0wBuiltOn "x86_64-linux";

      packages = forAllSystems (
        system: pkgs:
        let
          build = role: pkgs.callPackage ./nix/package.nix { inherit role; };
        in
        rec {
          agent = build "agent";
          subscriber = build "subscriber";
          console = build "console";
          cli = build "cli";
          default = cli;
          subscriber-image = pkgs.callPackage ./nix/container.nix { inherit subscriber; };
          sd-image-pi0w = (pi0wBuiltOn system).config.system.build.sdImage;
        }
      );

      apps = forAllSystems (
        system: pkgs:
        let
          p = self.packages.${system};
          app = pkg: exe: description: {
            type = "app";
            program = lib.getExe' pkg exe;
            meta.description = description;
          };
          # `bt-mqtt demo` starts its own Mosquitto, PostgreSQL and dbus-daemon: put them on PATH.
          demo = pkgs.writeShellApplication {
            name = "bt-mqtt-demo";
            runtimeInputs = [
              p.cli
              pkgs.mosquitto
              pkgs.postgresql_15
              pkgs.dbus
              pkgs.util-linux
            ];
            text = ''exec bt-mqtt demo "$@"'';
          };
        in
        {
          subscriber = app p.subscriber "bt-mqtt-subscriber" "BT-MQTT subscriber (MQTT to PostgreSQL)";
          console = app p.console "bt-mqtt-console" "BT-MQTT operator console";
          agent = app p.agent "bt-mqtt-agent" "BT-MQTT scanner agent";
          demo = app demo "bt-mqtt-demo" "The whole BT-MQTT pipeline on this machine, no hardware";
          default = self.apps.${system}.demo;
        }
      );

      checks = forAllSystems (
        system: pkgs:
        let
          p = self.packages.${system};
          all = import ./nix/checks.nix {
            inherit pkgs modules;
            src = self;
            packages = p;
          };
        in
        {
          inherit (p) agent subscriber console;
          inherit (all) vm;
        }
        # The Python tests run in the x86_64 build only (the suite is the same everywhere).
        // lib.optionalAttrs (system == "x86_64-linux") { inherit (all) pytest; }
      );

      devShells = forAllSystems (
        system: pkgs: {
          default = import ./nix/devshell.nix { inherit pkgs devenv inputs; };
        }
      );

      formatter = forAllSystems (system: pkgs: pkgs.nixfmt-rfc-style);
    };
}
