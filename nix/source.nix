# The package's source: the top-level entries of the repository listed in contract.json `source`
# (pyproject.toml, README.md, the four code folders, migrations), nothing else, so editing tests
# or docs does not rebuild the programs.  Plain builtins.path with a filter: it evaluates with any
# Nix (lib.fileset would need Nix >= 2.14 for builtins.readFileType under pure evaluation).
{
  root, # the repository (a path)
  entries, # top-level names to keep
}:
let
  prefix = toString root + "/";
  missing = builtins.filter (e: !builtins.pathExists (root + "/${e}")) entries;
  nested = builtins.filter (e: builtins.match "[^/]+" e == null) entries;
  topLevel =
    path:
    builtins.head (
      builtins.split "/" (builtins.substring (builtins.stringLength prefix) (-1) (toString path))
    );
in
if nested != [ ] then
  throw "nix/source.nix: only top-level names are supported, not ${builtins.toJSON nested}"
else if missing != [ ] then
  throw "nix/source.nix: missing from the repository: ${builtins.toJSON missing}"
else
  builtins.path {
    name = "bt-mqtt-source";
    path = root;
    # (a checkout's byte-code caches are not source)
    filter = path: _type: builtins.elem (topLevel path) entries && baseNameOf path != "__pycache__";
  }
