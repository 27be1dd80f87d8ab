"""The YAML loader's bounds: alias bombs, deep nesting, recursive aliases and oversized files are
refused quickly with a message naming the file; YAML errors never quote the file's text; every
program exits 2 on them, never with a traceback."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

from bt_mqtt.core import configfile
from bt_mqtt.core.configfile import ConfigError, load_yaml

ALIAS_BOMB = "\n".join(
    [
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
        *(
            f"{n}: &{n} [{','.join(['*' + p] * 9)}]"
            for p, n in zip("abcdefgh", "bcdefghi", strict=True)
        ),
        "scanner_id: *i",
        "",
    ]
)
DEEP = "scanner_id: x\nmqtt: " + "[" * 20_000 + "]" * 20_000 + "\n"
DEEP_BLOCK = "".join(f"{' ' * i}k{i}:\n" for i in range(200)) + " " * 200 + "v: 1\n"
RECURSIVE = "scanner_id: x\nfilters: &f {blocklist: {names: [*f]}}\n"
# each level nests the previous one 60 deep: within the textual bound, far beyond it expanded
CHAINED = "\n".join(
    [f"l0: &l0 {'[' * 60}1{']' * 60}"]
    + [f"l{i}: &l{i} {'[' * 60}*l{i - 1}{']' * 60}" for i in range(1, 20)]
    + ["scanner_id: *l19", ""]
)
PROGRAMS = {
    "agent": [sys.executable, "-m", "bt_mqtt.agent.main", "--check-config", "--config"],
    "subscriber": [sys.executable, "-m", "bt_mqtt.subscriber.main", "--config"],
    "console": [sys.executable, "-m", "bt_mqtt.console.main", "--config"],
}


def _limit_memory() -> None:  # runs in the child: 1 GiB of address space at most
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (ALIAS_BOMB, "more than 200000 values once aliases are expanded"),
        (DEEP, "nesting deeper than 64 levels"),
        (DEEP_BLOCK, "nesting deeper than 64 levels"),
        (RECURSIVE, "an alias refers to a node that contains it"),
        (CHAINED, "nesting deeper than 64 levels once aliases are expanded"),
    ],
    ids=["alias-bomb", "deep-flow", "deep-block", "recursive-alias", "chained-aliases"],
)
def test_hostile_documents_are_refused(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_yaml(path)
    assert str(exc.value).startswith(f"{path}: refused at line ")
    assert problem in str(exc.value)


@pytest.mark.parametrize("program", sorted(PROGRAMS))
@pytest.mark.parametrize("text", [ALIAS_BOMB, DEEP, RECURSIVE], ids=["bomb", "deep", "recursive"])
def test_every_program_exits_2_naming_the_file(tmp_path: Path, program: str, text: str) -> None:
    """Before: the bomb took 1.5 GB and never finished; 20,000 levels gave a RecursionError
    traceback and exit 1.  Now: exit 2 with a message naming the file, in bounded memory."""
    path = tmp_path / "hostile.yaml"
    path.write_text(text)
    res = subprocess.run(
        [*PROGRAMS[program], str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=_limit_memory,
        check=False,
    )
    assert res.returncode == 2, res.stderr[-2000:]
    assert f"{path}: refused at line" in res.stderr
    assert "Traceback" not in res.stderr


def test_oversized_and_non_utf8_files(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (configfile.MAX_FILE_BYTES + 1))
    with pytest.raises(ConfigError, match="larger than"):
        load_yaml(big)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"scanner_id: caf\xe9\n")
    with pytest.raises(ConfigError, match=r"not UTF-8 text \(byte 15\)"):
        load_yaml(latin)


def test_ordinary_aliases_and_merge_keys_still_work(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(
        "base: &base {host: broker, port: 1883}\n"
        "mqtt: {<<: *base, port: 8883}\n"
        "names: &n [a, b]\n"
        "more: [*n, *n]\n"
    )
    data = load_yaml(path)
    assert data["mqtt"] == {"host": "broker", "port": 8883}
    assert data["more"] == [["a", "b"], ["a", "b"]]


def test_yaml_errors_name_the_place_but_never_quote_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text('scanner_id: pi\nmqtt:\n  password: "S3cretPW\n  host: x\n')
    with pytest.raises(ConfigError) as exc:
        load_yaml(path)
    text = str(exc.value)
    assert text.startswith(f"{path}: invalid YAML at line ")
    assert "S3cretPW" not in text


def test_problem_lists_are_bounded(tmp_path: Path) -> None:
    from bt_mqtt.agent.config import load_config  # noqa: PLC0415

    path = tmp_path / "many.yaml"
    path.write_text("scanner_id: pi\nfilters: {blocklist: {names: [" + "1, " * 5000 + "]}}\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    lines = str(exc.value).splitlines()
    assert len(lines) == configfile.MAX_LINES + 1
    assert lines[-1] == f"{path}: … and {5000 - configfile.MAX_LINES} more problems"


@pytest.mark.parametrize(
    ("program", "text"),
    [
        ("subscriber", "database: {url: 'mysql://u:S3cretPW@db.lan/btmqtt'}\n"),
        ("console", "database: {url: 'mysql://u:S3cretPW@db.lan/btmqtt'}\n"),
        ("subscriber", "database: {url: 'postgresql://u:S3cretPW@db.lan/x', port: 1}\n"),
        ("agent", "scanner_id: pi\nmqtt: {password: 31415926535}\n"),
        ("agent", "scanner_id: pi\nmqtt: {password: [S3cretPW]}\n"),
        ("subscriber", "mqtt: {password: {S3cretPW: 1}}\n"),
        ("agent", 'scanner_id: pi\nmqtt:\n  password: "S3cretPW\n'),
    ],
)
def test_error_messages_never_show_a_password(tmp_path: Path, program: str, text: str) -> None:
    path = tmp_path / "conf.yaml"
    path.write_text(text)
    res = subprocess.run(
        [*PROGRAMS[program], str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert res.returncode == 2, res.stderr[-2000:]
    assert str(path) in res.stderr
    assert "S3cretPW" not in res.stderr and "31415926535" not in res.stderr


def test_control_characters_from_the_file_are_escaped(tmp_path: Path) -> None:
    path = tmp_path / "conf.yaml"
    path.write_text('scanner_id: pi\n"\\e]0;PWN\\a": 1\nlog: {level: "\\e[2J"}\n')
    res = subprocess.run(
        [*PROGRAMS["agent"], str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert res.returncode == 2
    assert "\x1b" not in res.stderr and "\x07" not in res.stderr
    assert "\\x1b]0;PWN\\x07" in res.stderr and "log.level: '\\x1b[2J'" in res.stderr
