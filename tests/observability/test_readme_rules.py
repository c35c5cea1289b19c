"""The README's Prometheus scrape job and alert rules are valid YAML and name metrics that exist."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from fastapi_kc.metrics import PrometheusMetrics

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
SECTION = README[README.index("### Metrics, structured logs and readiness probes") :]
SECTION = SECTION[: SECTION.index("\n### ")]
YAML_BLOCKS = [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", SECTION, re.DOTALL)]


def exposed_names() -> set[str]:
    metrics = PrometheusMetrics(CollectorRegistry())
    metrics.watch_key_set_age(lambda: 1.0)
    return {family.name for family in text_string_to_metric_families(generate_latest(metrics.registry).decode())}


def rules() -> list[dict[str, Any]]:
    return [rule for block in YAML_BLOCKS if "groups" in block for group in block["groups"] for rule in group["rules"]]


def test_the_section_has_a_scrape_job_and_two_alert_rules() -> None:
    assert any("scrape_configs" in block for block in YAML_BLOCKS)
    assert [rule["alert"] for rule in rules()] == ["TokenRefusalsByReason", "KeycloakKeySetTooOld"]


def test_every_metric_an_alert_reads_is_one_the_library_exposes() -> None:
    names = exposed_names()  # families: counters without their _total suffix
    for rule in rules():
        used = set(re.findall(r"fastapi_kc_\w+", rule["expr"]))
        assert used and all(name.removesuffix("_total") in names for name in used), (rule["alert"], used)


def test_the_key_set_rule_uses_the_default_max_age() -> None:
    from fastapi_kc import KeycloakSettings

    default = KeycloakSettings.model_fields["jwks_max_age_seconds"].default
    assert f"> {default:g}" in rules()[1]["expr"]
