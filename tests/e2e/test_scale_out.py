"""Several workers in one consumer group: three workers on 24 partitions, a fourth joins and one is
stopped mid-run, and the committed outputs are still those of a single uninterrupted worker."""

from __future__ import annotations

import pytest

from pricestream.scale_test import passed, run_scale_test
from pricestream.simulator.scenario import load_scenario

pytestmark = pytest.mark.e2e


def test_workers_joining_and_leaving_change_no_decision(kafka_broker):
    scenario = load_scenario("standard", periods=18)        # 20 SKUs over 24 partitions
    settings = kafka_broker.settings.replace(pricing_policy="learned", restock_policy="learned", pricing_seed=5,
                                             partitions=24, standby_replicas=1)
    report = run_scale_test(scenario, settings, seed=3, workers=3, add=1, stop=1, local_broker=False,
                            progress=print)
    per_topic = {t: {k: v[k] for k in ("reference", "output", "lost", "duplicated", "extra", "first_difference")}
                 for t, v in report["per_topic"].items()}
    assert [c["change"] for c in report["change_log"]] == ["add", "stop"]
    assert report["decisions"] > 3 * scenario.periods       # listings, forecasts and moves: not an empty run
    # every worker decided some of it, and each output says which worker wrote it
    assert set(report["outputs_by_worker"]) == {"w1", "w2", "w3", "w4"}, report["outputs_by_worker"]
    assert report["unattributed_outputs"] == 0 and report["workers_crashed"] == []
    # nothing lost, duplicated or extra, every SKU's events in the single worker's order
    assert (report["lost"], report["duplicated"], report["extra"]) == (0, 0, 0), per_topic
    assert report["identical"] and report["market_saw_identical_decisions"], per_topic
    # no SKU's period decided by two workers, no decision id twice
    assert report["periods_decided_by_two_workers"] == 0 and report["duplicate_event_ids"] == 0
    # the stopped worker's partitions went on elsewhere, and the joining one took some over
    assert all(h["partitions_moved"] > 0 for h in report["handovers"]), report["handovers"]
    # standbys: every partition has a copy on another worker than its owner, and hand-overs used them
    standbys = report["standbys"]
    assert standbys["every_partition_has_a_standby_elsewhere"], standbys["partitions_at_end"]
    assert standbys["takeovers_from_standby"] > 0, standbys
    # a copy is nearly up to date when its partition comes over: far less is read than it had
    assert standbys["records_read_at_takeover"]["total"] < standbys["records_not_read_thanks_to_standbys"], standbys
    assert passed(report)
