# A mosquitto.conf for a local development broker: one anonymous listener plus the queue-keeping
# settings of contract.json `broker` (the NixOS module sets the same through
# services.mosquitto.settings).  Builtins only: tests/nix renders it and runs a real Mosquitto
# with it.
{
  port,
  address,
  persistenceLocation, # a directory, with a trailing slash
}:
let
  broker = builtins.removeAttrs (builtins.fromJSON (builtins.readFile ./contract.json)).broker [
    "_comment"
  ];
  value =
    v:
    if builtins.isBool v then
      (if v then "true" else "false")
    else
      toString v;
  lines =
    [
      "listener ${toString port} ${address}"
      "allow_anonymous true"
      "persistence_location ${persistenceLocation}"
    ]
    ++ map (k: "${k} ${value broker.${k}}") (builtins.attrNames broker);
in
builtins.concatStringsSep "\n" lines + "\n"
