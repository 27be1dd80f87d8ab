# Python requirements as the Nix side reads them: PEP 508 strings from pyproject.toml and
# requirements-test.txt, and PEP 440 version tests on them.  Builtins only (no nixpkgs lib), so
# tests/nix evaluates this file with a bare nix-instantiate and compares every answer with the
# `packaging` library's.
#
# Supported: `name`, `name[extra,...]`, comma-separated specifiers with ~= == != <= >= < > ===
# (`==X.*` too), versions of the form 1.2.3, 1.2rc1, 1.2.post1, 1.2.dev1.  Environment markers
# (`; python_version ...`) are refused with an error naming the requirement, so a new one cannot
# be ignored silently.  Pre-releases count as satisfying (as nixpkgs' runtime-deps check does).
let
  inherit (builtins)
    all
    concatLists
    concatStringsSep
    elem
    elemAt
    filter
    fromJSON
    fromTOML
    genList
    head
    isString
    length
    match
    readFile
    replaceStrings
    split
    stringLength
    substring
    toJSON
    ;

  chars = s: genList (i: substring i 1 s) (stringLength s);
  lower = replaceStrings (chars "ABCDEFGHIJKLMNOPQRSTUVWXYZ") (chars "abcdefghijklmnopqrstuvwxyz");

  trim =
    s:
    let
      m = match "[[:space:]]*(.*[^[:space:]])[[:space:]]*" s;
    in
    if m == null then "" else head m;

  # The pieces of `s` between occurrences of the regular expression `sep`.
  splitOn = sep: s: filter isString (split sep s);

  # PEP 503 normalised name: lower case, runs of - _ . become one -.
  normalize = name: lower (concatStringsSep "-" (splitOn "[-_.]+" name));

  # "" -> 0, "08" -> 8 (fromJSON refuses leading zeros)
  toInt = s: if s == "" then 0 else fromJSON (head (match "0*([0-9]+)" s));

  # ---- versions (PEP 440 subset) -----------------------------------------------------------
  # A version as an ordering key: { release = [ints]; pre = [..]; post = [..]; dev = [..] }, or
  # null when the string is not of the supported form.
  parseVersion =
    v:
    let
      m = match "v?([0-9]+(\\.[0-9]+)*)([-_.]?(a|b|c|rc|alpha|beta|pre|preview)[-_.]?([0-9]*))?([-_.]?(post|rev|r)[-_.]?([0-9]*))?([-_.]?dev[-_.]?([0-9]*))?" (
        lower (trim v)
      );
      at = elemAt m;
      preKind = {
        a = 0;
        alpha = 0;
        b = 1;
        beta = 1;
        c = 2;
        rc = 2;
        pre = 2;
        preview = 2;
      };
      hasPre = at 3 != null;
      hasPost = at 5 != null;
      hasDev = at 8 != null;
    in
    if m == null then
      null
    else
      {
        release = map toInt (splitOn "\\." (at 0));
        # a dev release without pre/post sorts before every pre-release of its release
        pre =
          if hasPre then
            [
              preKind.${at 3}
              (toInt (at 4))
            ]
          else if hasDev && !hasPost then
            [ (-1) ]
          else
            [ 9 ];
        post = if hasPost then [ (toInt (at 7)) ] else [ (-1) ];
        dev = if hasDev then [ (toInt (at 9)) ] else [ 1000000000 ];
        isPre = hasPre || hasDev;
        isPost = hasPost;
        inherit hasPre hasDev;
      };

  pad = n: xs: xs ++ genList (_: 0) (max 0 (n - length xs));
  max = a: b: if a > b then a else b;

  # -1, 0 or 1 for two lists of ints compared element by element (equal lengths).
  cmpLists =
    a: b:
    if a == [ ] then
      0
    else if head a < head b then
      -1
    else if head a > head b then
      1
    else
      cmpLists (builtins.tail a) (builtins.tail b);

  cmpRelease =
    a: b:
    let
      n = max (length a) (length b);
    in
    cmpLists (pad n a) (pad n b);

  # Compare two version strings: -1, 0 or 1.  Unsupported forms fall back to Nix's own order.
  compareVersions =
    a: b:
    let
      pa = parseVersion a;
      pb = parseVersion b;
      r = cmpRelease pa.release pb.release;
    in
    if pa == null || pb == null then
      builtins.compareVersions a b
    else if r != 0 then
      r
    else
      cmpLists (pa.pre ++ pa.post ++ pa.dev) (pb.pre ++ pb.post ++ pb.dev);

  releaseOf = v: (parseVersion v).release;
  # Does `v`'s release start with the components `prefix`?  (Missing components count as 0.)
  releaseStartsWith =
    prefix: v:
    let
      r = pad (length prefix) (releaseOf v);
    in
    cmpLists prefix (genList (i: elemAt r i) (length prefix)) == 0;
  sameRelease = a: b: cmpRelease (releaseOf a) (releaseOf b) == 0;
  dropLast = xs: genList (i: elemAt xs i) (length xs - 1);
  endsWith =
    suffix: s:
    let
      n = stringLength s;
      k = stringLength suffix;
    in
    n >= k && substring (n - k) k s == suffix;

  # Does version `v` satisfy one specifier { op; version; }?
  satisfiesOne =
    v: spec:
    let
      s = spec.version;
      c = compareVersions v s;
      ps = parseVersion s;
      pv = parseVersion v;
      wildcard = endsWith ".*" s;
      prefix = map toInt (splitOn "\\." (substring 0 (stringLength s - 2) s));
    in
    if spec.op == "===" then
      v == s
    else if spec.op == "==" then
      (if wildcard then releaseStartsWith prefix v else c == 0)
    else if spec.op == "!=" then
      (if wildcard then !(releaseStartsWith prefix v) else c != 0)
    else if spec.op == ">=" then
      c >= 0
    else if spec.op == "<=" then
      c <= 0
    # <V excludes the pre-releases of V unless V is one (1.0rc1 and 1.0.dev1 for <1.0,
    # 1.0.post1.dev1 for <1.0.post1); >V excludes the post-releases of V unless V is one (as
    # `packaging` reads PEP 440)
    else if spec.op == "<" then
      c < 0
      && !(
        pv.isPre
        && !ps.isPre
        && sameRelease v s
        && (if pv.hasPre then !ps.isPost else pv.post == ps.post)
      )
    else if spec.op == ">" then
      c > 0 && !(pv.isPost && !ps.isPost && !ps.hasDev && sameRelease v s && pv.pre == ps.pre)
    else if spec.op == "~=" then
      c >= 0 && releaseStartsWith (dropLast ps.release) v
    else
      throw "requirements.nix: unsupported version operator ${spec.op}";

  # ---- requirements (PEP 508 subset) -------------------------------------------------------
  parseSpecifier =
    req: s:
    let
      m = match "(~=|===|==|!=|<=|>=|<|>)[[:space:]]*([^[:space:]]+)" (trim s);
    in
    if m == null then
      throw "requirements.nix: cannot read the version specifier '${s}' of '${req}'"
    else if elemAt m 0 == "~=" && length (parseVersion (elemAt m 1)).release < 2 then
      throw "requirements.nix: '~=' needs two release components in '${req}'"
    else
      {
        op = elemAt m 0;
        version = elemAt m 1;
      };

  # "psycopg[binary]>=3.1" -> { name = "psycopg"; extras = [ "binary" ]; specifiers = [ { op = ">="; version = "3.1"; } ]; }
  parse =
    req:
    let
      m = match "[[:space:]]*([A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?)[[:space:]]*([[]([A-Za-z0-9_., -]*)])?[[:space:]]*([^;]*)(;.*)?" req;
      specs = trim (elemAt m 4);
    in
    if m == null then
      throw "requirements.nix: cannot read the requirement '${req}'"
    else if elemAt m 5 != null then
      throw "requirements.nix: environment markers are not supported ('${req}'): the Nix packages would ignore them"
    else
      {
        name = normalize (elemAt m 0);
        extras = if elemAt m 3 == null then [ ] else map normalize (filter (e: e != "") (map trim (splitOn "," (elemAt m 3))));
        specifiers = if specs == "" then [ ] else map (parseSpecifier req) (splitOn "," specs);
      };

  satisfies = version: req: all (satisfiesOne version) (parse req).specifiers;

  # ---- the repository's requirements ----------------------------------------------------------
  pyproject = fromTOML (readFile ../pyproject.toml);
  contract = fromJSON (readFile ./contract.json);
  project = pyproject.project;
  pname = normalize project.name;

  # requirements-test.txt: one requirement a line, `#` comments.
  testFile = filter (l: l != "") (
    map (l: trim (head (splitOn "#" l))) (splitOn "\n" (readFile ../requirements-test.txt))
  );

  # Every requirement on other distributions that the project states (self-references such as
  # bt-mqtt[agent,...] in the `all` extra left out).
  allRequirements = unique (
    filter (r: (parse r).name != pname) (
      project.dependencies ++ concatLists (builtins.attrValues project.optional-dependencies) ++ testFile
    )
  );

  unique = builtins.foldl' (acc: x: if elem x acc then acc else acc ++ [ x ]) [ ];

  # The requirement strings a role's package must meet: the base dependencies and those of the
  # role's extras (contract.json `packages.<role>.extras`), as written in pyproject.toml.
  roleRequirements =
    role:
    unique (
      project.dependencies
      ++ concatLists (map (e: project.optional-dependencies.${e}) contract.packages.${role}.extras)
    );

  # pyproject.toml's `dependencies = [` line, and what the package build turns it into: the role's
  # extras' requirements become unconditional, so nixpkgs' runtime-dependency check (which skips
  # requirements behind an extra) enforces them and the build fails when one is not met.
  dependenciesAnchor = "dependencies = [";
  bakedDependencies =
    role:
    let
      extra = filter (r: !(elem r project.dependencies)) (roleRequirements role);
    in
    {
      anchor = dependenciesAnchor;
      replacement = dependenciesAnchor + concatStringsSep "" (map (r: " ${toJSON r},") extra);
    };

  # The requirements, among allRequirements, on the distribution `name` (any spelling).
  requirementsOn = name: filter (r: (parse r).name == normalize name) allRequirements;
  # Requirement strings that mention one of `names`, for checking an environment's contents.
  requirementsOnAny = names: filter (r: elem (parse r).name (map normalize names)) allRequirements;
in
{
  inherit
    normalize
    parseVersion
    compareVersions
    satisfiesOne
    parse
    satisfies
    allRequirements
    testFile
    roleRequirements
    bakedDependencies
    dependenciesAnchor
    requirementsOn
    requirementsOnAny
    ;
  # Does `version` meet every requirement the project states on `name`?
  meetsProject = name: version: all (satisfies version) (requirementsOn name);
  unmet = name: version: filter (r: !(satisfies version r)) (requirementsOn name);
}
