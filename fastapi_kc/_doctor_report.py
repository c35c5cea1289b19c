"""The report of `fastapi-kc doctor`: checks with a status, the evidence and the fix. Pure.

A failed check carries a `Diagnosis` from `_diagnostics`, so the text printed here is the text
the service raises at start-up and logs when it refuses a token. Rendering is plain text for
people and JSON for machines; neither ever contains a token or a secret, because no check is
ever given one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from fastapi_kc._diagnostics import Diagnosis


class Status(StrEnum):
    PASS = "pass"  # noqa: S105 - a check status, not a password
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"
    INFO = "info"  # what was found, e.g. who the token's caller is; neither pass nor fail


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the report. `id` is stable for machines (`issuer`, `token.aud`, ...)."""

    id: str
    status: Status
    summary: str
    evidence: str = ""
    fix: str = ""

    @classmethod
    def passed(cls, id: str, summary: str, evidence: str = "") -> Check:
        return cls(id, Status.PASS, summary, evidence)

    @classmethod
    def failed(cls, id: str, diagnosis: Diagnosis) -> Check:
        return cls(id, Status.FAIL, diagnosis.problem, diagnosis.evidence, diagnosis.fix)

    @classmethod
    def warned(cls, id: str, diagnosis: Diagnosis) -> Check:
        return cls(id, Status.WARN, diagnosis.problem, diagnosis.evidence, diagnosis.fix)

    @classmethod
    def skipped(cls, id: str, because: str) -> Check:
        return cls(id, Status.SKIP, f"not checked: {because}")

    def render(self) -> str:
        """`[FAIL] id: problem`, then `  found:` and `  fix:` exactly as `str(Diagnosis)` has them."""
        lines = [f"[{self.status.value.upper()}] {self.id}: {self.summary}"]
        if self.evidence:
            lines.append(f"  found: {self.evidence}")
        if self.fix:
            lines.append(f"  fix: {self.fix}")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, str]:
        return {"id": self.id, "status": self.status.value, "summary": self.summary, "evidence": self.evidence,
                "fix": self.fix}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Report:
    """Every check in the order it ran; failing when any check failed."""

    checks: tuple[Check, ...]

    @classmethod
    def of(cls, checks: Iterable[Check]) -> Report:
        return cls(tuple(checks))

    def count(self, status: Status) -> int:
        return sum(1 for check in self.checks if check.status is status)

    @property
    def ok(self) -> bool:
        return self.count(Status.FAIL) == 0

    @property
    def exit_code(self) -> int:
        """0 when nothing failed (warnings included), 1 otherwise."""
        return 0 if self.ok else 1

    def get(self, id: str) -> Check:
        """The check `id`; KeyError if it did not run."""
        for check in self.checks:
            if check.id == id:
                return check
        raise KeyError(id)

    def summary(self) -> str:
        counts = {status: self.count(status) for status in Status}
        parts = [f"{counts[s]} {s.value}" for s in Status if counts[s]]
        verdict = "all checks passed" if self.ok else "FAILED: fix the first failure first, later checks depend on it"
        return f"{verdict} ({', '.join(parts)})"

    def render_text(self) -> str:
        return "\n".join([*(check.render() for check in self.checks), "", self.summary()]) + "\n"

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "exit_code": self.exit_code, "checks": [check.as_dict() for check in self.checks]}

    def render_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, ensure_ascii=False) + "\n"
