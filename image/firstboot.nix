# What makes one published image fit every Pi: at boot, files placed in bt-mqtt/ on the FAT
# partition (Wi-Fi credentials, SSH keys, the agent's configuration) are imported into
# `btMqttImage.stateDir` and removed from the card (./import-boot-files.sh).  Wi-Fi, sshd and the
# agent read them from there.  No account has a password.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  cfg = config.btMqttImage;
  contract = lib.importJSON ../nix/contract.json;
  firmwareMount = "/boot/firmware"; # where sd-image.nix mounts the FAT partition
  wifiConf = "${cfg.stateDir}/${contract.image.wifiConfig}";

  importScript = pkgs.writeShellApplication {
    name = "bt-mqtt-import-boot-files";
    runtimeInputs = [
      pkgs.coreutils
      config.services.bt-mqtt-agent.package
    ];
    text = builtins.readFile ./import-boot-files.sh;
  };
in
{
  options.btMqttImage = {
    bootDir = lib.mkOption {
      type = lib.types.str;
      default = contract.image.bootDir;
      description = "The folder on the FAT partition that holds the files to import.";
    };
    stateDir = lib.mkOption {
      type = lib.types.str;
      default = contract.image.stateDir;
      description = "Where imported files live on the root file system.";
    };
    adminUser = lib.mkOption {
      type = lib.types.str;
      default = contract.image.adminUser;
      description = "The account that logs in with the imported SSH keys (sudo, no password).";
    };
  };

  config = {
    systemd.services.bt-mqtt-import-boot-files = {
      description = "Import Wi-Fi, SSH keys and the agent configuration from the boot partition";
      wantedBy = [ "multi-user.target" ];
      before = [
        "network-pre.target"
        "sshd.service"
        "bt-mqtt-agent.service"
        "bt-mqtt-wifi.service"
      ];
      wants = [ "network-pre.target" ];
      unitConfig.RequiresMountsFor = firmwareMount;
      serviceConfig = {
        Type = "oneshot";
        RemainAfterExit = true;
        ExecStart = lib.escapeShellArgs [
          (lib.getExe importScript)
          "${firmwareMount}/${cfg.bootDir}"
          cfg.stateDir
          cfg.adminUser
          "bt-mqtt-agent"
        ];
      };
    };

    # --- Wi-Fi: wpa_supplicant with the imported file, DHCP by systemd-networkd -------------
    networking.usePredictableInterfaceNames = false; # the SDIO Wi-Fi is wlan0
    networking.wireless.enable = false; # its module wants declared networks; ours come at boot
    networking.useNetworkd = true;
    networking.useDHCP = false;
    systemd.network.networks."30-wlan0" = {
      matchConfig.Name = "wlan0";
      networkConfig.DHCP = "yes";
    };
    systemd.services.bt-mqtt-wifi = {
      description = "Wi-Fi with the credentials imported from the boot partition";
      wantedBy = [ "multi-user.target" ];
      bindsTo = [ "sys-subsystem-net-devices-wlan0.device" ];
      after = [
        "sys-subsystem-net-devices-wlan0.device"
        "bt-mqtt-import-boot-files.service"
      ];
      before = [ "network.target" ];
      wants = [ "network.target" ];
      unitConfig.ConditionPathExists = wifiConf;
      serviceConfig = {
        ExecStart = "${pkgs.wpa_supplicant}/bin/wpa_supplicant -i wlan0 -D nl80211 -c ${wifiConf}";
        Restart = "always";
        RestartSec = 5;
      };
    };

    # --- SSH: keys only, for the admin user ----------------------------------------------------
    services.openssh = {
      enable = true;
      authorizedKeysFiles = [ "${cfg.stateDir}/ssh/%u" ];
      settings = {
        PasswordAuthentication = false;
        KbdInteractiveAuthentication = false;
        PermitRootLogin = "no";
      };
    };
    # (users.mutableUsers stays true: NixOS refuses an immutable user database in which no wheel
    # user has a declared password or key, and our keys arrive at boot.)
    users.users.root.hashedPassword = "!"; # locked: no default password
    users.users.${cfg.adminUser} = {
      isNormalUser = true;
      extraGroups = [ "wheel" ];
      hashedPassword = "!"; # locked: SSH keys only
    };
    security.sudo.wheelNeedsPassword = false;
  };
}
