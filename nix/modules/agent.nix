# NixOS module: the BT-MQTT scanner agent, `services.bt-mqtt-agent`.
#
# The YAML file is rendered from the freeform `settings` (keys as in docs/configuration.md; the
# agent's attrs classes are the schema: `bt-mqtt-agent --print-schema`), or taken from
# `configFile` when the file is only known at run time (the Pi image reads it from the boot
# partition).  The agent runs as the static system user `bt-mqtt-agent`, which a D-Bus policy
# allows to talk to org.bluez.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  cfg = config.services.bt-mqtt-agent;
  contract = lib.importJSON ../contract.json;
  yaml = pkgs.formats.yaml { };
  user = "bt-mqtt-agent";
  unit = "bt-mqtt-agent";
  credentials = "/run/credentials/${unit}.service";

  backend = ((cfg.settings.bluetooth or { }).backend or "bluez");
  usesBluez = cfg.configFile != null || backend != "replay";

  renderedConfig = yaml.generate "bt-mqtt-agent.yaml" cfg.settings;

  # The agent itself validates the rendered file at build time (when the build machine can run
  # the package), so a bad key fails `nixos-rebuild`, not the service.
  checkedConfig =
    if cfg.checkConfig then
      pkgs.runCommand "bt-mqtt-agent.yaml" { } ''
        ${lib.escapeShellArgs (substitute renderedConfig contract.commands.agentCheckConfig)}
        cp ${renderedConfig} $out
      ''
    else
      renderedConfig;

  configPath = if cfg.configFile != null then cfg.configFile else checkedConfig;

  # A contract command with the program made absolute and @CONFIG@ replaced.
  substitute =
    file: argv:
    [ (lib.getExe' cfg.package (lib.head argv)) ]
    ++ map (a: if a == "@CONFIG@" then "${file}" else a) (lib.tail argv);

  dbusPolicy = pkgs.writeTextDir "share/dbus-1/system.d/bt-mqtt-agent.conf" ''
    <!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
     "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
    <busconfig>
      <!-- The BT-MQTT agent scans through BlueZ: method calls to org.bluez (ObjectManager,
           Adapter1, AdvertisementMonitorManager1, Properties) and the replies and signals
           that come back.  It owns no name. -->
      <policy user="${user}">
        <allow send_destination="org.bluez"/>
        <allow receive_sender="org.bluez"/>
      </policy>
    </busconfig>
  '';
in
{
  options.services.bt-mqtt-agent = {
    enable = lib.mkEnableOption "the BT-MQTT scanner agent (BLE advertisements to MQTT)";

    package = lib.mkOption {
      type = lib.types.package;
      default = pkgs.callPackage ../package.nix { role = "agent"; };
      defaultText = lib.literalExpression ''pkgs.callPackage ./nix/package.nix { role = "agent"; }'';
      description = "The package providing `bt-mqtt-agent`.";
    };

    settings = lib.mkOption {
      description = ''
        The agent's configuration, written to YAML.  Keys and defaults are the Python
        configuration classes' (`bt-mqtt-agent --print-schema`); only `scanner_id` is
        required.  Ignored when `configFile` is set.
      '';
      default = { };
      example = lib.literalExpression ''
        {
          scanner_id = "livingroom-pi";
          mqtt.host = "mqtt.example.org";
          filters.blocklist.prefixes = [ "A4:C1:38" ];
        }
      '';
      type = lib.types.submodule {
        freeformType = yaml.type;
        options.scanner_id = lib.mkOption {
          type = lib.types.strMatching "[a-z0-9_-]{1,64}";
          default = lib.toLower config.networking.hostName;
          defaultText = lib.literalExpression "lib.toLower config.networking.hostName";
          description = "This scanner's name in topics and in the database.";
        };
      };
    };

    configFile = lib.mkOption {
      type = lib.types.nullOr lib.types.str;
      default = null;
      example = "/var/lib/bt-mqtt-image/agent.yaml";
      description = ''
        A configuration file outside the Nix store, read at start instead of `settings`
        (the file must be readable by the `${user}` user).
      '';
    };

    mqttPasswordFile = lib.mkOption {
      type = lib.types.nullOr lib.types.str;
      default = null;
      example = "/run/secrets/bt-mqtt-agent-mqtt";
      description = ''
        A file holding the broker password.  systemd hands it to the service as a credential
        (the file may stay readable by root only); `mqtt.password_file` points at it.
      '';
    };

    checkConfig = lib.mkOption {
      type = lib.types.bool;
      default =
        pkgs.stdenv.buildPlatform.canExecute pkgs.stdenv.hostPlatform
        && cfg.configFile == null
        && cfg.mqttPasswordFile == null;
      defaultText = lib.literalMD "true when the build machine can run the package and no run-time file is referenced";
      description = "Validate the rendered file with `bt-mqtt-agent --check-config` at build time.";
    };

    extraArgs = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      default = [ ];
      description = "Extra command-line arguments for `bt-mqtt-agent`.";
    };
  };

  config = lib.mkIf cfg.enable {
    services.bt-mqtt-agent.settings = lib.mkIf (cfg.mqttPasswordFile != null) {
      mqtt.password_file = "${credentials}/mqtt-password";
    };

    users.users.${user} = {
      isSystemUser = true;
      group = user;
      description = "BT-MQTT scanner agent";
    };
    users.groups.${user} = { };

    services.dbus.packages = [ dbusPolicy ];
    hardware.bluetooth.enable = lib.mkIf usesBluez (lib.mkDefault true);

    systemd.services.${unit} = {
      description = "BT-MQTT scanner agent";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ] ++ lib.optional usesBluez "bluetooth.service";
      after = [ "network-online.target" ] ++ lib.optional usesBluez "bluetooth.service";
      restartTriggers = lib.optional (cfg.configFile == null) checkedConfig;
      # The watchdog exits non-zero when the adapter stays silent: always come back.
      startLimitIntervalSec = 0;
      serviceConfig = import ./hardening.nix { inherit lib; } // {
        ExecStart = lib.escapeShellArgs (
          substitute configPath contract.commands.agent ++ cfg.extraArgs
        );
        User = user;
        Group = user;
        Restart = "always";
        RestartSec = 5;
        # remote set-filters/set-dedup are kept in $STATE_DIRECTORY/commands.state.json (the
        # rendered configuration is in the read-only store; the Pi image's in a root folder)
        StateDirectory = unit;
        LoadCredential = lib.optional (
          cfg.mqttPasswordFile != null
        ) "mqtt-password:${cfg.mqttPasswordFile}";
        # SIGTERM: stop scanning, publish "offline", disconnect.
        KillSignal = "SIGTERM";
        TimeoutStopSec = 15;
      };
    };
  };
}
