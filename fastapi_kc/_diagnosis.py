"""A problem between this service and Keycloak as it is shown: what it is, the evidence, the fix.

Every diagnosis of the `_diagnose_*` modules is one of these; `_diagnostics` gathers them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """A problem found: what it is, the evidence, and the fix."""

    problem: str
    evidence: str
    fix: str

    def __str__(self) -> str:
        return f"{self.problem}\n  found: {self.evidence}\n  fix: {self.fix}"
