# The Raspberry Pi Zero W image: NixOS for armv6l with the BT-MQTT agent.
#
# Boot chain: the GPU firmware (bootcode.bin, start.elf) reads config.txt on the FAT partition
# and starts U-Boot (rpi_0_w), which reads /boot/extlinux/extlinux.conf on the ext4 root
# (generic-extlinux-compatible) and boots the kernel.  One image serves every Pi: Wi-Fi, SSH
# keys and the agent's configuration are read from the FAT partition at boot (./firstboot.nix).
# There is no password anywhere: log in with the SSH key you put on the card.
#
# Cross-compiled: the flake sets nixpkgs.buildPlatform to the machine that builds the image.
{
  config,
  lib,
  pkgs,
  modulesPath,
  ...
}:

let
  contract = lib.importJSON ../nix/contract.json;
  firmware = "${pkgs.raspberrypifw}/share/raspberrypi/boot";
  configTxt = ./config.txt;
in
{
  imports = [
    "${modulesPath}/installer/sd-card/sd-image.nix"
    ../nix/modules/agent.nix
    ./firstboot.nix
  ];

  nixpkgs.hostPlatform = lib.systems.examples.raspberryPi; # armv6l-unknown-linux-gnueabihf
  # The firmware blobs are unfree but redistributable; allow exactly that kind of licence.
  nixpkgs.config.allowUnfreePredicate =
    pkg: lib.all (l: l.redistributable or false) (lib.toList (pkg.meta.license or [ ]));
  # The Raspberry Pi kernel lacks some modules the generic initrd lists; do not fail on them.
  nixpkgs.overlays = [
    (final: prev: {
      makeModulesClosure = args: prev.makeModulesClosure (args // { allowMissing = true; });
    })
  ];

  system.stateVersion = "25.05";
  networking.hostName = lib.mkDefault "bt-mqtt-pi0w";

  # --- boot ----------------------------------------------------------------------------------
  boot.loader.grub.enable = false;
  boot.loader.generic-extlinux-compatible = {
    enable = true;
    configurationLimit = 3; # the SD card is small; old generations go after three
  };
  # The Raspberry Pi Foundation's kernel for the BCM2835 (Pi 1 and Zero), the one nixpkgs'
  # own armv6l image uses; its device tree attaches the Bluetooth chip on the UART (serdev).
  boot.kernelPackages = lib.mkDefault pkgs.linuxPackages_rpi1;
  boot.initrd.includeDefaultModules = false;
  boot.initrd.availableKernelModules = [
    "mmc_block"
    "usbhid"
  ];
  boot.kernelParams = [
    "console=ttyS0,115200n8" # the mini UART on the GPIO header (PL011 belongs to Bluetooth)
    "console=tty1"
  ];
  boot.tmp.useTmpfs = true;
  boot.tmp.tmpfsSize = "64M";

  # The file is result/sd-image/<baseName>.img.zst (NixOS 25.05 moved the name from
  # sdImage.imageBaseName to image.baseName).
  image.baseName = contract.image.baseName;
  sdImage = {
    firmwareSize = 64;
    compressImage = true;
    populateFirmwareCommands = ''
      cp ${firmware}/bootcode.bin ${firmware}/start.elf ${firmware}/fixup.dat firmware/
      cp ${firmware}/bcm2708-rpi-zero-w.dtb firmware/
      cp ${pkgs.ubootRaspberryPiZero}/u-boot.bin firmware/u-boot-rpi0.bin
      cp ${configTxt} firmware/config.txt
      mkdir -p firmware/${config.btMqttImage.bootDir}
      cp ${./boot/bt-mqtt}/* firmware/${config.btMqttImage.bootDir}/
    '';
    populateRootCommands = ''
      mkdir -p ./files/boot
      ${config.boot.loader.generic-extlinux-compatible.populateCmd} -c ${config.system.build.toplevel} -d ./files/boot
    '';
  };

  # --- hardware: BCM43430A1 Wi-Fi (SDIO) and Bluetooth (UART) ---------------------------------
  hardware.enableRedistributableFirmware = false; # linux-firmware is large; take only ours
  hardware.firmware = [ pkgs.raspberrypiWirelessFirmware ];

  hardware.bluetooth = {
    enable = true;
    powerOnBoot = true;
    settings = {
      # AdvertisementMonitor (passive scanning) is behind BlueZ's experimental interfaces.
      General.Experimental = true;
      Policy.AutoEnable = true;
    };
  };

  # The device tree normally attaches the Bluetooth chip (hci_uart/serdev).  When no adapter
  # shows up, attach the UART by hand, as Raspberry Pi OS's hciuart service does.
  systemd.services.bt-mqtt-btattach = {
    description = "Attach the UART Bluetooth chip when the kernel did not";
    wantedBy = [ "bluetooth.target" ];
    before = [ "bluetooth.service" ];
    after = [ "systemd-udev-settle.service" ];
    unitConfig.ConditionPathExists = "!/sys/class/bluetooth/hci0";
    serviceConfig = {
      ExecStartPre = "${pkgs.coreutils}/bin/sleep 3";
      ExecStart = "${pkgs.bluez}/bin/btattach -B /dev/ttyAMA0 -P bcm -S 921600";
      Restart = "on-failure";
      RestartSec = 10;
    };
  };

  # --- the agent -----------------------------------------------------------------------------
  services.bt-mqtt-agent = {
    enable = true;
    configFile = "${config.btMqttImage.stateDir}/agent.yaml";
  };
  systemd.services.bt-mqtt-agent = {
    wants = [ "bt-mqtt-import-boot-files.service" ];
    after = [ "bt-mqtt-import-boot-files.service" ];
    unitConfig.ConditionPathExists = "${config.btMqttImage.stateDir}/agent.yaml";
  };

  # --- spare the SD card and the 512 MB of RAM -----------------------------------------------
  services.journald.extraConfig = ''
    Storage=volatile
    RuntimeMaxUse=16M
  '';
  zramSwap.enable = true;
  documentation.enable = false;
  fileSystems."/".options = [ "noatime" ];
  nix.settings = {
    trusted-users = [ "@wheel" ]; # updates are pushed over SSH: nixos-rebuild --target-host
    auto-optimise-store = true;
  };
  nix.gc = {
    automatic = true;
    dates = "weekly";
    options = "--delete-older-than 14d";
  };
  services.timesyncd.enable = true; # no RTC: the clock is right only after NTP
}
