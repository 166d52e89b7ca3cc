"""The files under ops/, read as Prometheus and Grafana read them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

OPS = Path(__file__).resolve().parents[2] / "ops"
ALERTS = OPS / "alerts.yml"
ALERT_TESTS = OPS / "alerts.test.yml"
SCRAPE_CONFIG = OPS / "prometheus.yml"
DASHBOARD = OPS / "grafana-dashboard.json"
UNIT = OPS / "conserje.service"

GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$instance": ".*"}
"""What Grafana puts in place of the dashboard's variables, for running its queries."""


def load_yaml(path: Path) -> Any:
    """Parse one of the YAML files."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def alert_rules() -> dict[str, dict[str, Any]]:
    """Every alerting rule of alerts.yml, by alert name."""
    groups = load_yaml(ALERTS)["groups"]
    return {rule["alert"]: rule for group in groups for rule in group["rules"] if "alert" in rule}


def dashboard() -> dict[str, Any]:
    """The Grafana dashboard, as imported."""
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def dashboard_queries() -> dict[str, str]:
    """Every query of the dashboard (its variables left in), by panel title and refId."""
    queries = {
        f"{panel['title']} {target['refId']}": target["expr"]
        for panel in dashboard()["panels"]
        for target in panel.get("targets", [])
    }
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] == "query":
            queries[f"variable {variable['name']}"] = variable["definition"]
    return queries


def runnable(query: str) -> str:
    """Return a dashboard query with Grafana's variables replaced, as Grafana sends it."""
    for variable, value in GRAFANA_VARIABLES.items():
        query = query.replace(variable, value)
    return query
