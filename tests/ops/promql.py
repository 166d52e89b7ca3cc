"""Which metric names a PromQL expression reads, and which a /metrics exposition offers."""

from __future__ import annotations

import re

from prometheus_client.parser import text_string_to_metric_families

# Parts of an expression that hold no metric name: quoted strings, label matchers,
# range and subquery brackets, and the label lists of grouping and matching clauses.
_NOT_NAMES = re.compile(
    r"""
    "(?:[^"\\]|\\.)*" | '(?:[^'\\]|\\.)*' | `[^`]*`
    | \{[^}]*\}
    | \[[^\]]*\]
    | \b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)
    """,
    re.VERBOSE,
)
# An identifier not glued to a number or a variable ("5m", "1e3", "$instance").
_IDENTIFIER = re.compile(r"(?<![\w.$])[a-zA-Z_:][a-zA-Z0-9_:]*")
_KEYWORDS = frozenset({"and", "or", "unless", "offset", "bool", "atan2", "inf", "nan"})
_SAMPLE_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
}
# label_values(metric, label) is Grafana's, not PromQL: its first argument is a metric.
_LABEL_VALUES = re.compile(r"label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*(\w+)\s*\)")


def label_values(query: str) -> tuple[str, str] | None:
    """Return the metric and label of a Grafana ``label_values(metric, label)`` query."""
    found = _LABEL_VALUES.fullmatch(query.strip())
    return (found.group(1), found.group(2)) if found else None


def metric_names(expression: str) -> set[str]:
    """Return the metric names an expression (or a Grafana ``label_values``) selects."""
    if grafana := label_values(expression):
        return {grafana[0]}
    rest = _NOT_NAMES.sub(" ", expression)
    return {
        found.group()
        for found in _IDENTIFIER.finditer(rest)
        if found.group() not in _KEYWORDS and not rest[found.end() :].lstrip().startswith("(")
    }


def sample_names(family: str, kind: str) -> set[str]:
    """Return the sample names a metric family of this type has (``kind``: ``counter``...)."""
    return {family + suffix for suffix in _SAMPLE_SUFFIXES.get(kind, ("",))}


def exposed_names(exposition: str) -> set[str]:
    """Return every sample name the exposition's metric families can have.

    A family is declared (``# TYPE``) before any of its label sets has a sample, so this
    covers labelled metrics that have not moved yet.
    """
    return {
        name
        for family in text_string_to_metric_families(exposition)
        for name in sample_names(family.name, family.type)
    }
