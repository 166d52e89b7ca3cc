"""ops/grafana-dashboard.json: importable anywhere, and covering every metric the server has."""

from __future__ import annotations

from itertools import combinations

from conserje.metrics import Metrics
from tests.ops.ops_files import dashboard, dashboard_queries
from tests.ops.promql import metric_names, sample_names

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def panels() -> list[dict]:
    return [panel for panel in dashboard()["panels"] if panel["type"] != "row"]


def test_the_prometheus_datasource_is_chosen_on_import_not_hard_coded():
    variables = {variable["name"]: variable for variable in dashboard()["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in panels():
        assert panel["datasource"] == DATASOURCE, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, panel["title"]
    assert "__inputs" not in dashboard()


def test_every_query_filters_on_the_instance_variable():
    for where, query in dashboard_queries().items():
        if not where.startswith("variable"):
            assert 'instance=~"$instance"' in query, where


def test_panels_have_unique_ids_and_titles_and_do_not_overlap():
    ids = [panel["id"] for panel in dashboard()["panels"]]
    assert len(ids) == len(set(ids))
    titles = [panel["title"] for panel in panels()]
    assert len(titles) == len(set(titles))
    boxes = {panel["title"]: panel["gridPos"] for panel in dashboard()["panels"]}
    for box in boxes.values():
        assert box["x"] >= 0
        assert box["x"] + box["w"] <= 24
    for (a, one), (b, other) in combinations(boxes.items(), 2):
        apart = (
            one["x"] + one["w"] <= other["x"]
            or other["x"] + other["w"] <= one["x"]
            or one["y"] + one["h"] <= other["y"]
            or other["y"] + other["h"] <= one["y"]
        )
        assert apart, f"{a!r} overlaps {b!r}"


def test_every_panel_says_what_it_shows():
    for panel in panels():
        assert panel["description"].strip(), panel["title"]
        assert panel["targets"], panel["title"]


def test_every_metric_of_the_server_is_on_the_dashboard():
    shown = set().union(*(metric_names(query) for query in dashboard_queries().values()))
    for family in Metrics().registry.collect():
        assert sample_names(family.name, family.type) & shown, f"{family.name} is on no panel"
