# NixOS module: the BT-MQTT subscriber, `services.bt-mqtt-subscriber` (MQTT to PostgreSQL).
#
# The YAML file is rendered from the freeform `settings` (keys as in docs/configuration.md; the
# subscriber's attrs classes are the schema: `bt-mqtt-subscriber --print-schema`).  Optional
# wiring: a local PostgreSQL database owned by the service user (peer authentication over the
# Unix socket, no password), and a local Mosquitto listener.  Secrets come from files handed
# over as systemd credentials, or from an environment file (BT_MQTT_DATABASE_URL,
# BT_MQTT_DATABASE_PASSWORD, BT_MQTT_MQTT_PASSWORD).
{
  config,
  lib,
  pkgs,
  ...
}:

let
  cfg = config.services.bt-mqtt-subscriber;
  contract = lib.importJSON ../contract.json;
  broker = builtins.removeAttrs contract.broker [ "_comment" ];
  yaml = pkgs.formats.yaml { };
  unit = "bt-mqtt-subscriber";
  credentials = "/run/credentials/${unit}.service";

  renderedConfig = yaml.generate "bt-mqtt-subscriber.yaml" cfg.settings;
  configPath = if cfg.configFile != null then cfg.configFile else renderedConfig;

  command =
    name:
    let
      argv = contract.commands.${name};
    in
    lib.escapeShellArgs (
      [ (lib.getExe' cfg.package (lib.head argv)) ]
      ++ map (a: if a == "@CONFIG@" then "${configPath}" else a) (lib.tail argv)
    );

  localDb = cfg.database.createLocally;
  dbUnits = lib.optionals localDb [
    "postgresql.service"
    "postgresql-setup.service"
  ];
  mqttUnits = lib.optional cfg.mosquitto.createLocally "mosquitto.service";
  grafanaOn = cfg.grafana.enable;
  # The read-only role's grants, run by the tables' owner (after the migrations).
  readonlyGrants = lib.escapeShellArgs [
    (lib.getExe' config.services.postgresql.package "psql")
    "--no-psqlrc"
    "--set=ON_ERROR_STOP=1"
    "--dbname=${cfg.user}"
    "--file=${../../console/bt_mqtt/console/readonly_role.sql}"
  ];

  serviceBase = {
    User = cfg.user;
    Group = cfg.user;
    EnvironmentFile = lib.optional (cfg.environmentFile != null) cfg.environmentFile;
    LoadCredential =
      lib.optional (cfg.mqttPasswordFile != null) "mqtt-password:${cfg.mqttPasswordFile}"
      ++ lib.optional (cfg.database.passwordFile != null) "db-password:${cfg.database.passwordFile}";
  };
in
{
  options.services.bt-mqtt-subscriber = {
    enable = lib.mkEnableOption "the BT-MQTT subscriber (MQTT to PostgreSQL)";

    package = lib.mkOption {
      type = lib.types.package;
      default = pkgs.callPackage ../package.nix { role = "subscriber"; };
      defaultText = lib.literalExpression ''pkgs.callPackage ./nix/package.nix { role = "subscriber"; }'';
      description = "The package providing `bt-mqtt-subscriber`.";
    };

    settings = lib.mkOption {
      type = yaml.type;
      default = { };
      example = lib.literalExpression ''
        {
          mqtt.host = "mqtt.example.org";
          parsers.bindkeys."A4:C1:38:00:11:22" = "0123456789abcdef0123456789abcdef";
          retention.raw_days = 30;
        }
      '';
      description = ''
        The subscriber's configuration, written to YAML (world-readable in the Nix store:
        keep passwords and bind keys out of it; use the *File options or `configFile`).
        Keys and defaults are the Python configuration classes'.  Ignored when `configFile`
        is set.
      '';
    };

    configFile = lib.mkOption {
      type = lib.types.nullOr lib.types.str;
      default = null;
      description = "A configuration file outside the Nix store, used instead of `settings`.";
    };

    user = lib.mkOption {
      type = lib.types.str;
      default = "btmqtt";
      description = ''
        The static system user (and group) the service runs as.  With
        `database.createLocally` it is also the PostgreSQL role and the database's name.
      '';
    };

    environmentFile = lib.mkOption {
      type = lib.types.nullOr lib.types.str;
      default = null;
      example = "/run/secrets/bt-mqtt-subscriber.env";
      description = "An environment file, e.g. `BT_MQTT_DATABASE_URL=postgresql://…` with a password.";
    };

    mqttPasswordFile = lib.mkOption {
      type = lib.types.nullOr lib.types.str;
      default = null;
      description = "A file holding the broker password (handed over as a systemd credential).";
    };

    database = {
      createLocally = lib.mkOption {
        type = lib.types.bool;
        default = true;
        description = ''
          Enable PostgreSQL on this machine with a database and role named after `user`,
          reached over the Unix socket with peer authentication.
        '';
      };
      passwordFile = lib.mkOption {
        type = lib.types.nullOr lib.types.str;
        default = null;
        description = "A file holding the database password for a remote `database.url`.";
      };
      autoMigrate = lib.mkOption {
        type = lib.types.bool;
        default = true;
        description = "Apply the migrations (`bt-mqtt-subscriber migrate`) before each start.";
      };
    };

    mosquitto = {
      createLocally = lib.mkOption {
        type = lib.types.bool;
        default = false;
        description = ''
          Enable Mosquitto on this machine with `mosquitto.listener`, keeping queued messages
          without a cap and on disk (`services.mosquitto.settings.max_queued_messages = 0`,
          `autosave_interval = 60`, `services.mosquitto.persistence`; each a default).
        '';
      };
      listener = lib.mkOption {
        type = lib.types.attrs;
        default = {
          address = "127.0.0.1";
          port = 1883;
          omitPasswordAuth = true;
          settings.allow_anonymous = true;
          acl = [ "topic readwrite bt-mqtt/#" ];
        };
        description = ''
          The listener added to `services.mosquitto.listeners`.  The default accepts anonymous
          clients on loopback only; for scanners on the network give an address, users with
          `passwordFile`s and ACLs, and open the port.
        '';
      };
      openFirewall = lib.mkOption {
        type = lib.types.bool;
        default = false;
        description = "Open the listener's port in the firewall.";
      };
    };

    grafana = {
      enable = lib.mkOption {
        type = lib.types.bool;
        default = false;
        description = ''
          Provision Grafana (`services.grafana`, enabled) with the BT-MQTT data source and the
          dashboards of deploy/grafana/dashboards (overview, device, storage).  With the local
          database, Grafana reads it as the console's read-only role `btmqtt_console` over the
          Unix socket (peer authentication mapped from the `grafana` user), and the role's grants
          are applied after each migration.
        '';
      };
    };

    retention = {
      enable = lib.mkOption {
        type = lib.types.bool;
        default = true;
        description = "Run `bt-mqtt-subscriber retention` (drops expired partitions) on a timer.";
      };
      onCalendar = lib.mkOption {
        type = lib.types.str;
        default = "daily";
        description = "When retention runs (systemd calendar expression).";
      };
    };
  };

  config = lib.mkIf cfg.enable {
    services.bt-mqtt-subscriber.settings = lib.mkMerge [
      (lib.mkIf localDb {
        database.url = lib.mkDefault "postgresql:///${cfg.user}?host=/run/postgresql";
      })
      (lib.mkIf (cfg.mqttPasswordFile != null) {
        mqtt.password_file = "${credentials}/mqtt-password";
      })
      (lib.mkIf (cfg.database.passwordFile != null) {
        database.password_file = "${credentials}/db-password";
      })
    ];

    users.users.${cfg.user} = {
      isSystemUser = true;
      group = cfg.user;
      description = "BT-MQTT subscriber";
    };
    users.groups.${cfg.user} = { };

    services.postgresql = lib.mkMerge [
      (lib.mkIf localDb {
        enable = true;
        ensureDatabases = [ cfg.user ];
        ensureUsers = [
          {
            name = cfg.user;
            ensureDBOwnership = true;
          }
        ];
      })
      # Grafana reads the database as btmqtt_console (readonly_role.sql grants it SELECT).
      (lib.mkIf (grafanaOn && localDb) {
        ensureUsers = [ { name = "btmqtt_console"; } ];
        identMap = ''
          bt-mqtt-grafana grafana btmqtt_console
        '';
        authentication = lib.mkBefore ''
          local ${cfg.user} btmqtt_console peer map=bt-mqtt-grafana
        '';
      })
    ];

    services.grafana = lib.mkIf grafanaOn {
      enable = lib.mkDefault true;
      provision = {
        enable = true;
        datasources.settings = {
          apiVersion = 1;
          datasources = [
            {
              name = "BT-MQTT";
              uid = "bt-mqtt-postgres";
              type = "grafana-postgresql-datasource";
              access = "proxy";
              url = "/run/postgresql";
              user = "btmqtt_console";
              jsonData = {
                database = cfg.user;
                sslmode = "disable";
                postgresVersion = 1500;
              };
              editable = false;
            }
          ];
        };
        dashboards.settings = {
          apiVersion = 1;
          providers = [
            {
              name = "bt-mqtt";
              folder = "BT-MQTT";
              type = "file";
              disableDeletion = true;
              options.path = ../../deploy/grafana/dashboards;
            }
          ];
        };
      };
    };

    # The broker must keep the subscriber's session while it is stopped: no cap on queued
    # messages (Mosquitto's default of 1000 drops the rest silently) and the queue on disk, saved
    # every `autosave_interval` seconds (contract.json `broker`).  Defaults, so a deployment can
    # choose a bound instead.
    services.mosquitto = lib.mkIf cfg.mosquitto.createLocally {
      enable = true;
      listeners = [ cfg.mosquitto.listener ];
      persistence = lib.mkDefault broker.persistence;
      settings = lib.mapAttrs (_: lib.mkDefault) (builtins.removeAttrs broker [ "persistence" ]);
    };
    networking.firewall.allowedTCPPorts = lib.optional (
      cfg.mosquitto.createLocally && cfg.mosquitto.openFirewall
    ) (cfg.mosquitto.listener.port or 1883);

    systemd.services.${unit} = {
      description = "BT-MQTT subscriber (MQTT to PostgreSQL)";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ] ++ mqttUnits;
      requires = lib.optional localDb "postgresql.service";
      after = [ "network-online.target" ] ++ dbUnits ++ mqttUnits;
      restartTriggers = lib.optional (cfg.configFile == null) renderedConfig;
      startLimitIntervalSec = 0;
      serviceConfig = import ./hardening.nix { inherit lib; } // serviceBase // {
        ExecStartPre =
          lib.optional cfg.database.autoMigrate (command "subscriberMigrate")
          ++ lib.optional (grafanaOn && localDb) readonlyGrants;
        ExecStart = command "subscriberRun";
        Restart = "always";
        RestartSec = 5;
        # Acknowledged messages are committed first; SIGTERM finishes the batch in flight.
        TimeoutStopSec = 30;
      };
    };

    systemd.services."${unit}-retention" = lib.mkIf cfg.retention.enable {
      description = "BT-MQTT retention: drop expired partitions";
      requires = lib.optional localDb "postgresql.service";
      after = dbUnits;
      serviceConfig = import ./hardening.nix { inherit lib; } // serviceBase // {
        Type = "oneshot";
        ExecStart = command "subscriberRetention";
      };
    };
    systemd.timers."${unit}-retention" = lib.mkIf cfg.retention.enable {
      wantedBy = [ "timers.target" ];
      timerConfig = {
        OnCalendar = cfg.retention.onCalendar;
        Persistent = true;
        RandomizedDelaySec = "15m";
      };
    };
  };
}
