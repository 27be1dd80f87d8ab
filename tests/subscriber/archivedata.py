"""A day of mixed adverts as ``raw_advertisements`` rows, for the archive tests and bench.

The demo's device mix (thermometers, beacons, phones, unknown devices, three scanners) published
through the real wire encoder, plus messages the wire contract allows but the agent never writes:
absent optional fields, nulls, unknown fields (numbers with trailing zeros among them), a lower
case MAC, upper case hex, a ``ts`` with an offset, and a time the subscriber chose itself.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from bt_mqtt.core.wire import encode, format_ts
from bt_mqtt.demo import scenario
from bt_mqtt.subscriber.archive import KNOWN_FIELDS, ArchivedAdvert


def extras_of(obj: dict[str, Any]) -> str | None:
    """The JSON text of the fields outside the wire contract (None when there are none)."""
    rest = {k: v for k, v in obj.items() if k not in KNOWN_FIELDS}
    return json.dumps(rest) if rest else None


def _odd(obj: dict[str, Any], rng: random.Random) -> tuple[str, bool]:
    """Mutate ``obj`` the way a non-agent publisher might; returns (payload text, agent_time)."""
    kind = rng.randrange(8)
    agent_time = True
    if kind == 0:
        for key in ("tx_power", "name", "address_type", "service_uuids"):
            obj.pop(key, None)
    elif kind == 1:
        obj["name"] = None
        obj["rssi"] = None
    elif kind == 2:
        obj["firmware"] = {"rev": "1.50", "n": [1, 2.5, None, True]}
    elif kind == 3:
        obj["mac"] = obj["mac"].lower()
    elif kind == 4:
        obj["manufacturer_data"] = {k: v.upper() for k, v in obj["manufacturer_data"].items()}
    elif kind == 5:
        obj["ts"] = obj["ts"].replace("Z", "+00:00")
    elif kind == 6:
        agent_time = False
    else:
        obj["name"] = "caf\u00e9 \u202e\u0007 \U0001f600"
    return json.dumps(obj, ensure_ascii=False), agent_time


def day_of_adverts(
    day: datetime, *, seconds: float = 240.0, odd_every: int = 25, seed: int = 3
) -> Iterator[ArchivedAdvert]:
    """Rows of one simulated day, as ingest would have stored them: the demo's first
    ``seconds`` of events spread over the day (the demo's rate would be 5 million a day)."""
    stretch = 86400.0 / seconds
    rng = random.Random(seed)
    devices = scenario.build_devices(seed)
    seqs: dict[str, int] = {}
    boots = {s: f"boot-{s}-{seed}" for s in scenario.SCANNERS}
    start = day.replace(tzinfo=UTC).timestamp()
    for n, ev in enumerate(scenario.events(devices, seed)):
        if ev.t >= seconds:
            return
        seq = seqs[ev.scanner_id] = seqs.get(ev.scanner_id, 0) + 1
        ts = format_ts(start + ev.t * stretch)
        payload = encode(ev.advert, ev.scanner_id, boots[ev.scanner_id], seq, ts).decode()
        agent_time = True
        obj = json.loads(payload)
        if n % odd_every == odd_every - 1:
            payload, agent_time = _odd(obj, rng)
            obj = json.loads(payload)
        when = datetime.fromisoformat(ts.replace("Z", "+00:00"))
        received = when + timedelta(microseconds=rng.randrange(2_000, 900_000))
        if not agent_time:
            when = received
        parsed = rng.random() < 0.6
        yield ArchivedAdvert(
            id=1000 + n,
            time=when,
            received_at=received,
            scanner_id=ev.scanner_id,
            boot=boots[ev.scanner_id],
            seq=seq,
            mac=ev.advert.mac,
            rssi=ev.advert.rssi,
            parser="bthome" if parsed else None,
            clock_skew=not agent_time,
            agent_time=agent_time,
            parse_status="ok" if parsed else None,
            payload=payload,
            extras=extras_of(obj),
        )
