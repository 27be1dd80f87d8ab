"""Fuzz: random bytes, YAML-like text and random documents (anchors and aliases included) as
configuration files.  Loading one either succeeds or raises ``ConfigError`` with a message that
names the file; nothing else escapes, and each file costs bounded time; the programs exit 0 or
2 with a message, never with a traceback."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bt_mqtt.agent.config import load_config as load_agent
from bt_mqtt.core.configfile import ConfigError, load_yaml
from bt_mqtt.subscriber.config import load_config as load_subscriber

SETTINGS = settings(
    max_examples=300,
    # No per-example deadline: a 1,900-deep flow list takes ~1 s per loader here and several
    # under load; pytest-timeout is the hang guard.
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=20),
    st.sampled_from(["pi", "localhost", "bluez", "passive", "info", "json", "0x1234", "~"]),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=12) | st.integers(), inner, max_size=4)
    ),
    max_leaves=20,
)
KEYS = {
    "scanner_id": st.sampled_from(["pi", "livingroom-pi", "Bad Id", ""]) | values,
    "mqtt": st.fixed_dictionaries(
        {},
        optional=dict.fromkeys(
            ("host", "port", "username", "password", "password_file", "tls", "client_id"), values
        ),
    )
    | values,
    "bluetooth": st.fixed_dictionaries({}, optional={"backend": values, "mode": values}) | values,
    "filters": st.fixed_dictionaries(
        {}, optional={"blocklist": st.fixed_dictionaries({}, optional={"names": values})}
    )
    | values,
    "database": st.fixed_dictionaries({}, optional={"url": values, "password": values}) | values,
    "parsers": st.fixed_dictionaries({}, optional={"bindkeys": values}) | values,
    "log": values,
}
config_like = st.fixed_dictionaries({}, optional=KEYS)
yaml_chars = st.text(
    st.sampled_from(list("[]{}:,-?&*!|>'\"#%@` \n\tabc019.~<=\\")) | st.characters(),
    max_size=200,
)


@st.composite
def aliased(draw: st.DrawFn) -> str:
    """Anchored sequences and maps, each made of aliases to earlier ones (bombs among them)."""
    lines = ["n0: &n0 [x]"]
    for i in range(1, draw(st.integers(1, 12))):
        earlier = st.sampled_from([i - 1, i - 1, max(i - 2, 0), 0]) | st.integers(0, i - 1)
        refs = draw(st.lists(earlier, min_size=1, max_size=12))
        depth = draw(st.integers(0, 8))
        body = ", ".join(f"*n{r}" for r in refs)
        if draw(st.booleans()):
            body = "{" + ", ".join(f"k{j}: *n{r}" for j, r in enumerate(refs)) + "}"
        else:
            body = f"[{body}]"
        lines.append(f"n{i}: &n{i} {'[' * depth}{body}{']' * depth}")
    key = draw(st.sampled_from(["scanner_id", "mqtt", "filters", "parsers", "log"]))
    lines.append(f"{key}: *n{len(lines) - 1}")
    return "\n".join(lines) + "\n"


@st.composite
def deep(draw: st.DrawFn) -> str:
    """Nesting far past any real configuration, in flow or block style."""
    n = draw(st.integers(1, 30_000))
    key = draw(st.sampled_from(["scanner_id", "mqtt", "filters", "x"]))
    style = draw(st.sampled_from(["flow-seq", "flow-map", "block"]))
    if style == "flow-seq":
        return f"{key}: {'[' * n}1{']' * n}\n"
    if style == "flow-map":
        return f"{key}: {'{a: ' * n}1{'}' * n}\n"
    n = min(n, 3000)
    return f"{key}:\n" + "".join(f"{' ' * (i + 1)}k:\n" for i in range(n)) + " " * (n + 1) + "1\n"


def dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


documents = st.one_of(
    config_like.map(dump),
    values.map(dump),
    aliased(),
    deep(),
    yaml_chars,
    st.tuples(config_like.map(dump), st.integers(0, 400), yaml_chars).map(
        lambda t: t[0][: t[1]] + t[2] + t[0][t[1] :]
    ),
)


def check(path: Path) -> None:
    for load in (load_yaml, load_agent, load_subscriber):
        try:
            load(path)
        except ConfigError as exc:
            assert str(exc).startswith(f"{path}: ") or f"\n{path}: " in f"\n{exc}", exc


@SETTINGS
@given(documents)
def test_random_documents_load_or_fail_with_a_config_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    check(path)


@SETTINGS
@given(st.binary(max_size=300))
def test_random_bytes_load_or_fail_with_a_config_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_bytes(data)
    check(path)


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(aliased(), deep(), config_like.map(dump), yaml_chars))
def test_the_agent_exits_0_or_2_never_with_a_traceback(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    res = subprocess.run(
        [sys.executable, "-m", "bt_mqtt.agent.main", "--config", str(path), "--check-config"],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=_limit_memory,
        check=False,
    )
    assert res.returncode in (0, 2), res.stderr[-3000:]
    assert "Traceback" not in res.stderr
    if res.returncode == 2:
        assert str(path) in res.stderr
