"""ops/alerts.yml: valid for promtool, unit-tested, and each rule tells an operator what to do."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.ops.ops_files import ALERT_TESTS, ALERTS, SCRAPE_CONFIG, alert_rules, load_yaml

SEED_ALERTS = {"HighRaceErrors", "HighTokenThreads"}


def promtool_run(promtool: str, *args: str | Path) -> str:
    """Run promtool, fail the test with its output unless it succeeds, and return stdout."""
    done = subprocess.run(
        [promtool, *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"promtool {args[0]} {args[1]} failed:\n{done.stdout}{done.stderr}"
    return done.stdout


def test_promtool_accepts_the_rules(promtool):
    out = promtool_run(promtool, "check", "rules", ALERTS)
    assert f"SUCCESS: {len(alert_rules())} rules found" in out


def test_the_rules_pass_their_promtool_unit_tests(promtool):
    assert "SUCCESS" in promtool_run(promtool, "test", "rules", ALERT_TESTS)


def test_promtool_accepts_the_scrape_config_and_the_rules_it_loads(promtool):
    out = promtool_run(promtool, "check", "config", SCRAPE_CONFIG)
    assert "SUCCESS: 1 rule files found" in out


def test_the_seed_alerts_and_the_issue_s_alerts_are_there():
    assert set(alert_rules()) >= SEED_ALERTS | {
        "HighFallbackRate",
        "OrphanedRunsRecovered",
        "JournalFsyncSlow",
        "WebhookErrors",
        "WebhooksUnavailable",
        "NoWebhooks",
    }


@pytest.mark.parametrize("name", sorted(alert_rules()))
def test_each_rule_waits_has_a_severity_and_says_what_to_do(name):
    rule = alert_rules()[name]
    assert "for" in rule, "a rule without for: fires on a single evaluation"
    assert rule["labels"]["severity"] in {"warning", "critical"}
    assert rule["annotations"]["summary"].strip()
    # Long enough to say what it means and where to look next.
    assert len(rule["annotations"]["description"].split()) >= 25


@pytest.mark.parametrize("name", sorted(alert_rules()))
def test_each_rule_is_unit_tested_firing_and_not_firing(name):
    groups = [
        group
        for group in load_yaml(ALERT_TESTS)["tests"]
        if any(case["alertname"] == name for case in group.get("alert_rule_test", []))
    ]
    cases = [
        case for group in groups for case in group["alert_rule_test"] if case["alertname"] == name
    ]
    assert any(case.get("exp_alerts") for case in cases), f"no test sees {name} fire"
    fired = {
        alert["exp_labels"].get("instance")
        for case in cases
        for alert in case.get("exp_alerts", [])
    }
    fed = {
        series_instance(series["series"]) for group in groups for series in group["input_series"]
    }
    quiet = any(not case.get("exp_alerts") for case in cases) or fed - fired
    assert quiet, f"no test shows {name} staying quiet"


def series_instance(series: str) -> str | None:
    """Return the instance label of a promtool input series such as ``up{instance="a"}``."""
    for matcher in series.partition("{")[2].rstrip("}").split(","):
        label, _, value = matcher.strip().partition("=")
        if label == "instance":
            return value.strip('"')
    return None
