# systemd sandboxing shared by the BT-MQTT services.  Every entry is mkDefault, so a deployment
# can relax one setting without copying the rest.  The programs need: outbound TCP (MQTT,
# PostgreSQL), Unix sockets (D-Bus, PostgreSQL's socket), reading their configuration and the
# Nix store; nothing else.
{ lib }:

lib.mapAttrs (_: lib.mkDefault) {
  NoNewPrivileges = true;
  ProtectSystem = "strict";
  ProtectHome = true;
  PrivateTmp = true;
  PrivateDevices = true;
  ProtectHostname = true;
  ProtectClock = true;
  ProtectKernelTunables = true;
  ProtectKernelModules = true;
  ProtectKernelLogs = true;
  ProtectControlGroups = true;
  ProtectProc = "invisible";
  RestrictAddressFamilies = [
    "AF_UNIX"
    "AF_INET"
    "AF_INET6"
  ];
  RestrictNamespaces = true;
  RestrictRealtime = true;
  RestrictSUIDSGID = true;
  RemoveIPC = true;
  LockPersonality = true;
  MemoryDenyWriteExecute = true;
  SystemCallArchitectures = "native";
  SystemCallFilter = [
    "@system-service"
    "~@privileged"
    "~@resources"
  ];
  CapabilityBoundingSet = "";
  AmbientCapabilities = "";
  UMask = "0077";
}
