# The subscriber as an OCI image (dockerTools.buildLayeredImage): mount the configuration at
# /config/subscriber.yaml, or pass BT_MQTT_DATABASE_URL; the default command is `run`, and
# `docker run IMAGE --config /config/subscriber.yaml migrate` applies the migrations.
{
  lib,
  dockerTools,
  cacert,
  tzdata,
  subscriber,
}:

let
  contract = lib.importJSON ./contract.json;
  argv = contract.commands.subscriberRun;
  configPath = "/config/subscriber.yaml";
in
dockerTools.buildLayeredImage {
  name = "bt-mqtt-subscriber";
  tag = contract.version;
  contents = [
    cacert
    tzdata
  ];
  extraCommands = ''
    mkdir -p config tmp
    chmod 1777 tmp
  '';
  config = {
    Entrypoint = [ (lib.getExe' subscriber (lib.head argv)) ];
    Cmd = map (a: if a == "@CONFIG@" then configPath else a) (lib.tail argv);
    User = "65534:65534"; # nobody: the subscriber needs no privileges
    Env = [
      "SSL_CERT_FILE=${cacert}/etc/ssl/certs/ca-bundle.crt"
      "TZDIR=${tzdata}/share/zoneinfo"
      "HOME=/tmp"
    ];
    Volumes."/config" = { };
    Labels = {
      "org.opencontainers.image.title" = "bt-mqtt-subscriber";
      "org.opencontainers.image.version" = contract.version;
      "org.opencontainers.image.licenses" = "MIT";
    };
  };
}
