"""A real Prometheus scrapes the real server with ops/prometheus.yml and reads metrics back."""

from __future__ import annotations

import time
from typing import Any

import pytest

from conserje.testing import payloads
from conserje.testing.wait import wait_for
from tests.e2e.conftest import settle
from tests.ops.ops_files import ALERTS, SCRAPE_CONFIG, dashboard_queries, load_yaml, runnable
from tests.ops.prometheus_process import Prometheus, running_prometheus
from tests.ops.promql import label_values

pytestmark = pytest.mark.e2e

GUEST = "34655000333@s.whatsapp.net"
ACCEPTED = 'conserje_webhooks_total{job="conserje", outcome="accepted"}'
REPLIED = 'conserje_turns_total{job="conserje", outcome="replied"}'


def scrape_config(target: str) -> dict[str, Any]:
    """ops/prometheus.yml aimed at ``target``, scraping and evaluating every second."""
    config = load_yaml(SCRAPE_CONFIG)
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(ALERTS)]
    del config["alerting"]  # no Alertmanager here
    (job,) = config["scrape_configs"]
    job["static_configs"] = [{"targets": [target]}]
    return config


def scraped_after(prometheus: Prometheus, selector: str, moment: float) -> float:
    """Wait for a sample of ``selector`` scraped after ``moment``, and return its value."""
    fresh = wait_for(
        lambda: [value for at, value in prometheus.samples(selector) if at > moment],
        timeout=30,
        what=f"a sample of {selector} scraped after {moment}",
    )
    return fresh[-1]


@pytest.fixture
def scraped_server(make_server, prometheus, tmp_path):
    """The real server, and a real Prometheus scraping it with the shipped job."""
    with make_server() as server:
        config = scrape_config(f"127.0.0.1:{server.port}")
        with running_prometheus(prometheus, config, tmp_path / "prometheus") as prom:
            yield server, prom


def test_a_webhook_moves_a_counter_that_prometheus_reads_back(scraped_server, whapi_fake):
    server, prom = scraped_server
    before = wait_for(lambda: prom.samples(ACCEPTED), timeout=30, what="a first scrape")
    assert before[-1][1] == 0

    assert whapi_fake.post_webhook(payloads.text_message(GUEST, "¿Tenéis sitio hoy?")) == 200
    settle(server, whapi_fake, turns=1)
    answered = time.time()

    assert scraped_after(prom, ACCEPTED, answered) == 1
    assert scraped_after(prom, REPLIED, answered) == 1
    (up,) = prom.query('up{job="conserje"}')["result"]
    assert up["value"][1] == "1"


def test_prometheus_evaluates_every_alert_rule_and_dashboard_query(scraped_server):
    server, prom = scraped_server

    def evaluated() -> list[dict[str, Any]]:
        rules = prom.rules()
        return rules if all(not rule["lastEvaluation"].startswith("0001") for rule in rules) else []

    rules = wait_for(evaluated, timeout=30, what="every rule evaluated once")
    assert {rule["name"] for rule in rules} >= {"HighRaceErrors", "HighTokenThreads"}
    failing = {rule["name"]: rule.get("lastError") for rule in rules if rule["health"] != "ok"}
    assert not failing
    # A healthy server that just started fires nothing (NoWebhooks may be pending).
    assert not [rule["name"] for rule in rules if rule["state"] == "firing"]

    for where, query in dashboard_queries().items():
        if grafana := label_values(query):
            # Grafana's own function: the variable lists the label of the metric's series.
            metric, label = grafana
            series = wait_for(lambda m=metric: prom.query(m)["result"], timeout=30, what=where)
            assert {s["metric"][label] for s in series} == {f"127.0.0.1:{server.port}"}, where
        else:
            assert prom.query(runnable(query))["resultType"] == "vector", where
