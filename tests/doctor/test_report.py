"""The report model: statuses, exit code, and text and JSON that carry the diagnostics verbatim."""

from __future__ import annotations

import json

from fastapi_kc._diagnostics import Diagnosis
from fastapi_kc._doctor_report import Check, Report, Status

DIAGNOSIS = Diagnosis(problem="the thing is broken", evidence="GET /x answered 404", fix="set KEYCLOAK_X")


def test_a_report_without_failures_exits_0_even_with_warnings_and_skips() -> None:
    report = Report.of([Check.passed("a", "ok"), Check.warned("b", DIAGNOSIS), Check.skipped("c", "no input")])
    assert report.ok and report.exit_code == 0


def test_one_failure_makes_the_exit_code_1() -> None:
    assert Report.of([Check.passed("a", "ok"), Check.failed("b", DIAGNOSIS)]).exit_code == 1


def test_a_failed_check_prints_the_diagnosis_exactly_as_the_service_does() -> None:
    text = Report.of([Check.failed("issuer", DIAGNOSIS)]).render_text()
    assert f"[FAIL] issuer: {DIAGNOSIS}\n" in text


def test_a_passed_check_prints_its_evidence_and_no_fix() -> None:
    rendered = Check.passed("reach", "Keycloak answers", "HTTP 200").render()
    assert rendered == "[PASS] reach: Keycloak answers\n  found: HTTP 200"


def test_the_summary_counts_each_status() -> None:
    report = Report.of([Check.passed("a", "ok"), Check.failed("b", DIAGNOSIS), Check.skipped("c", "x")])
    assert report.render_text().endswith("(1 pass, 1 fail, 1 skip)\n")


def test_json_carries_every_check_with_status_evidence_and_fix() -> None:
    report = Report.of([Check.passed("a", "ok", "seen"), Check.failed("b", DIAGNOSIS)])
    document = json.loads(report.render_json())
    assert document == {
        "ok": False,
        "exit_code": 1,
        "checks": [
            {"id": "a", "status": "pass", "summary": "ok", "evidence": "seen", "fix": ""},
            {"id": "b", "status": "fail", "summary": DIAGNOSIS.problem, "evidence": DIAGNOSIS.evidence,
             "fix": DIAGNOSIS.fix},
        ],
    }  # fmt: skip


def test_an_info_line_neither_passes_nor_fails() -> None:
    report = Report.of([Check("token.caller", Status.INFO, "user 'mario'")])
    assert report.ok and report.render_text().startswith("[INFO] token.caller: user 'mario'")
