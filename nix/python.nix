# The Python every BT-MQTT Nix output uses: nixpkgs' python3 whose package set carries
# ./python-overrides.nix (the distributions nixpkgs has too old).  `self = python` makes
# `python.pkgs` and `python.withPackages` see the overridden set.
{ python3, fetchPypi }:
let
  python = python3.override {
    self = python;
    packageOverrides = import ./python-overrides.nix { inherit fetchPypi; };
  };
in
python
