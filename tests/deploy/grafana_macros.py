"""Grafana's PostgreSQL macros and template variables, expanded as Grafana expands them.

Grafana (the grafana-postgresql-datasource) rewrites, before sending the SQL:

- ``$__time(col)`` -> ``col AS "time"``;
  ``$__timeEpoch(col)`` -> ``extract(epoch from col) AS "time"``
- ``$__timeFilter(col)`` -> ``col BETWEEN '<from>' AND '<to>'`` (RFC 3339 UTC)
- ``$__timeFrom()`` / ``$__timeTo()`` -> ``'<from>'`` / ``'<to>'``
- ``$__timeGroup(col, '5m')`` -> ``floor(extract(epoch from col)/300)*300``;
  ``$__timeGroupAlias`` adds ``AS "time"``
- ``$__unixEpochFilter(col)`` -> ``col >= <from epoch> AND col <= <to epoch>``

and before that, in the browser, the variables: ``$__interval`` (for example ``1m``),
``$__interval_ms`` (the same in milliseconds, ``60000``), and the
dashboard's own (``$mac``, ``${mac}``).  Anything else that looks like a macro is an error here,
so a panel using one this expander does not know fails its test instead of passing untested.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

_MACRO = re.compile(r"\$__(\w+)\(([^()]*(?:\([^()]*\)[^()]*)*)\)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class UnknownMacro(ValueError):
    pass


def _ts(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def interval_seconds(text: str) -> float:
    m = re.fullmatch(r"'?(\d+(?:\.\d+)?)(ms|s|m|h|d|w)'?", text.strip())
    if m is None:
        raise UnknownMacro(f"not an interval: {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def expand(
    sql: str, start: datetime, end: datetime, variables: dict[str, str], interval: str = "1m"
) -> str:
    """The SQL Grafana would send for this time range and these variable values."""
    values = {
        "__interval": interval,
        "__interval_ms": f"{interval_seconds(interval) * 1000:.0f}",
        **variables,
    }

    def var(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name not in values:
            raise UnknownMacro(f"unknown variable ${name}")
        return values[name]

    sql = re.sub(r"\$\{(\w+)\}|\$(?!__\w+\()(\w+)", var, sql)

    def macro(m: re.Match[str]) -> str:
        name, args = m.group(1), [a.strip() for a in m.group(2).split(",")] if m.group(2) else []
        if name == "time":
            return f'{args[0]} AS "time"'
        if name == "timeEpoch":
            return f'extract(epoch from {args[0]}) AS "time"'
        if name == "timeFilter":
            return f"{args[0]} BETWEEN '{_ts(start)}' AND '{_ts(end)}'"
        if name == "timeFrom":
            return f"'{_ts(start)}'"
        if name == "timeTo":
            return f"'{_ts(end)}'"
        if name in ("timeGroup", "timeGroupAlias"):
            secs = interval_seconds(args[1])
            group = f"floor(extract(epoch from {args[0]})/{secs:g})*{secs:g}"
            return group + (' AS "time"' if name == "timeGroupAlias" else "")
        if name == "unixEpochFilter":
            return f"{args[0]} >= {int(start.timestamp())} AND {args[0]} <= {int(end.timestamp())}"
        raise UnknownMacro(f"unknown macro $__{name}")

    out = _MACRO.sub(macro, sql)
    if "$" in re.sub(r"'[^']*'", "", out):
        raise UnknownMacro(f"unexpanded $ left in: {out}")
    return out
