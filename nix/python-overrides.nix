# packageOverrides for nixpkgs' Python package set (python3.override { packageOverrides = ...; }).
#
# Each distribution in ./python-pins.json replaces nixpkgs' own package while nixpkgs' version
# misses a requirement that pyproject.toml or requirements-test.txt states on it (nixos-25.05 has
# gmqtt 0.7.0 where the code needs >=0.8,<0.9).  The replacement keeps nixpkgs' recipe (build
# system, import check, meta) and swaps in the published sdist with its hash and the sdist's
# runtime dependencies; its tests do not run (the sdists ship none, or need the network).  Once
# nixpkgs catches up, its own package is used again without an edit here.
#
# Builtins only apart from the two arguments, so tests/nix evaluates it with a stand-in set.
{ fetchPypi }:
final: prev:
let
  reqs = import ./requirements.nix;
  pins = builtins.removeAttrs (builtins.fromJSON (builtins.readFile ./python-pins.json)) [
    "_comment"
  ];

  fromSdist =
    name: pin:
    let
      unmet = reqs.unmet name pin.version;
    in
    if unmet != [ ] then
      throw "nix/python-pins.json: ${name} ${pin.version} does not meet ${builtins.concatStringsSep ", " unmet}"
    else
      prev.${name}.overridePythonAttrs (old: {
        inherit (pin) version;
        src = fetchPypi {
          pname = pin.sdist;
          inherit (pin) version hash;
        };
        dependencies = map (d: final.${d}) pin.dependencies;
        postPatch = "";
        doCheck = false;
      });

  choose =
    name: pin: if reqs.meetsProject name prev.${name}.version then prev.${name} else fromSdist name pin;
in
builtins.mapAttrs choose pins
