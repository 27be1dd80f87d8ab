"""Which time an advert is stored under (``clock``), and the ledger's reading of heartbeats."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bt_mqtt.subscriber.clock import EPOCH_FLOOR, TimeTrust, stored_time
from bt_mqtt.subscriber.ledger import LEDGER_SEQ_MAX, Loss, marks
from bt_mqtt.subscriber.metrics import Metrics, render

NOW = datetime(2026, 12, 4, 12, tzinfo=UTC).timestamp()
TRUST = TimeTrust(max_ahead_s=300, max_delay_s=8 * 86400)


def test_plausible_agent_times_are_kept() -> None:
    for t in (NOW, NOW - 0.5, NOW + 299, NOW - 3 * 86400, NOW - 8 * 86400):
        assert stored_time(t, NOW, TRUST) == (t, True)


def test_implausible_agent_times_give_way_to_the_arrival_time() -> None:
    future_2038 = datetime(2038, 1, 19, tzinfo=UTC).timestamp()
    for t in (0.0, 5.0, EPOCH_FLOOR - 1, future_2038, NOW + 301, NOW - 8 * 86400 - 1):
        assert stored_time(t, NOW, TRUST) == (NOW, False)
    assert not TimeTrust().trusted(NOW + 301, NOW)
    # before 2020 is never plausible, whatever the delay allowed
    assert not TimeTrust(max_delay_s=1e12).trusted(EPOCH_FLOOR - 1, NOW)


def test_heartbeat_marks_keep_only_what_the_ledger_can_use() -> None:
    body = {
        "boot": "b1",
        "last_seq": 42,
        "counters": {"received": 50, "filtered": 3, "dropped_offline": True, "bluez_errors": 9},
    }
    m = marks(body)
    assert m is not None and (m.boot, m.last_seq) == ("b1", 42)
    assert m.counters is not None and json.loads(m.counters) == {"received": 50, "filtered": 3}
    assert marks({"last_seq": 1}) is None  # no boot: nothing to attach it to
    assert marks({"boot": "x" * 129}) is None
    for bad in (-1, "7", 1.5, True, LEDGER_SEQ_MAX + 1, 2**70):
        got = marks({"boot": "b", "last_seq": bad, "counters": {"received": 2**62}})
        assert got is not None and (got.last_seq, got.counters) == (0, None)


def test_metrics_show_loss_and_parse_failures() -> None:
    m = Metrics()
    m.loss = {"pi": Loss(published=10, received=7, missing=3, agent_dropped=2)}
    m.parse_failed[("xiaomi", "no_key")] += 4
    m.parse_failed[('we"ird', "error")] += 1
    m.parsed["bthome"] += 5
    m.untrusted_time = 2
    text = render(m)
    assert 'btmqtt_subscriber_seq_missing{scanner_id="pi"} 3' in text
    assert 'btmqtt_subscriber_seq_published{scanner_id="pi"} 10' in text
    assert 'btmqtt_subscriber_seq_agent_dropped{scanner_id="pi"} 2' in text
    assert 'btmqtt_subscriber_parse_failures_total{parser="xiaomi",status="no_key"} 4' in text
    assert 'parse_failures_total{parser="we\\"ird",status="error"} 1' in text
    assert "btmqtt_subscriber_untrusted_time_total 2" in text
