# NixOS VM test: Mosquitto + PostgreSQL + the subscriber + an agent on the replay backend, all
# through the flake's modules, on one machine.  Passes when the replayed advertisements arrive
# as rows (the queries and expected counts are in ../contract.json, checked by tests/nix
# against the migrations on a real PostgreSQL).
{
  pkgs,
  lib,
  modules,
  replayFile,
}:

let
  contract = lib.importJSON ../contract.json;
  vm = contract.vmTest;
in
pkgs.testers.runNixOSTest {
  name = "bt-mqtt-pipeline";

  nodes.machine =
    { ... }:
    {
      imports = [
        modules.agent
        modules.subscriber
      ];
      virtualisation.memorySize = 1536;

      services.bt-mqtt-subscriber = {
        enable = true;
        database.createLocally = true;
        mosquitto.createLocally = true;
        settings = contract.settings.vmSubscriber;
      };

      services.bt-mqtt-agent = {
        enable = true;
        settings = lib.recursiveUpdate contract.settings.vmAgent {
          bluetooth.replay.file = "${replayFile}";
        };
      };
    };

  testScript = ''
    import json
    import shlex

    queries = json.loads(${builtins.toJSON (builtins.toJSON vm.queries)})
    expect = json.loads(${builtins.toJSON (builtins.toJSON vm.expect)})

    def count(q):
        cmd = "runuser -u postgres -- psql -d ${vm.database} -tAc " + shlex.quote(q)
        return int(machine.succeed(cmd).strip())

    machine.wait_for_unit("postgresql.service")
    machine.wait_for_unit("mosquitto.service")
    machine.wait_for_unit("bt-mqtt-subscriber.service")
    machine.wait_for_unit("bt-mqtt-agent.service")

    for name, want in expect.items():
        with machine.nested(f"waiting for {name} to reach {want}"):
            retry(lambda _last, q=queries[name], w=want: count(q) >= w, timeout=180)
        got = count(queries[name])
        assert got == want, f"{name}: {got} rows, expected {want}"

    # The hardened units really run as their own users.
    machine.succeed("systemctl show -p User bt-mqtt-agent.service | grep -qx User=bt-mqtt-agent")
    machine.succeed("systemctl show -p User bt-mqtt-subscriber.service | grep -qx User=btmqtt")
    # Retention runs on demand without error.
    machine.succeed("systemctl start bt-mqtt-subscriber-retention.service")
  '';
}
