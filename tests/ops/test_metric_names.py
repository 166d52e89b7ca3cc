"""The ops files read only metrics the real server exposes, so they cannot drift from the code."""

from __future__ import annotations

import pytest

from tests.ops.ops_files import alert_rules, dashboard_queries
from tests.ops.promql import exposed_names, metric_names

pytestmark = pytest.mark.e2e

PROMETHEUS_OWN = {"up"}
"""Series Prometheus writes itself for each scrape target."""

SEED_METRICS = {"race_errors_total", "high_token_threads", "bot_fallbacks_total"}


def used_names() -> dict[str, set[str]]:
    """Metric names read by each alert and each dashboard query."""
    expressions = {f"alert {name}": rule["expr"] for name, rule in alert_rules().items()}
    expressions |= {f"dashboard {where}": query for where, query in dashboard_queries().items()}
    return {where: metric_names(expression) for where, expression in expressions.items()}


def test_every_alert_and_panel_reads_a_metric():
    unread = [where for where, names in used_names().items() if not names]
    assert not unread
    everything = set().union(*used_names().values())
    assert everything >= SEED_METRICS | {"conserje_webhooks_total", "up"}


def test_every_metric_the_ops_files_read_is_in_the_server_s_exposition(make_server):
    with make_server() as server:
        answer = server.get("/metrics")
    assert answer.status_code == 200
    exposed = exposed_names(answer.text) | PROMETHEUS_OWN
    missing = {
        where: sorted(names - exposed) for where, names in used_names().items() if names - exposed
    }
    assert not missing, f"names the server does not expose: {missing}"
