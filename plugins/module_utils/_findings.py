# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one result shape every check in this collection returns.

A finding is a single verdict about a single target: what was measured
(``value`` in ``unit``), what it was compared with (``threshold``), the raw
evidence, and the runbook's remediation. Reports, playbooks and AWX
aggregate findings; nobody re-derives a verdict in Jinja.
"""

from __future__ import annotations

import dataclasses
import typing as t

OK = "ok"
WARN = "warn"
CRITICAL = "critical"
UNKNOWN = "unknown"

# "unknown" (we could not measure) outranks "ok" but not a measured problem.
_RANK = {OK: 0, UNKNOWN: 1, WARN: 2, CRITICAL: 3}
STATUSES = tuple(_RANK)


class IncidentResponseError(Exception):
    """The one exception type the collection's helpers raise.

    Modules turn it into ``fail_json(msg=str(exc))``; the message says what
    failed, where and why, and never carries a secret.
    """


@dataclasses.dataclass
class Finding:
    name: str
    target: str
    status: str
    value: t.Any = None
    threshold: t.Any = None
    unit: str | None = None
    evidence: t.Any = None
    remediation: str | None = None

    def __post_init__(self) -> None:
        if self.status not in _RANK:
            raise ValueError(f"unknown finding status {self.status!r}; expected one of {', '.join(STATUSES)}")

    def as_dict(self) -> dict[str, t.Any]:
        return dataclasses.asdict(self)


def rank(status: str) -> int:
    return _RANK[status]


def worst_status(statuses: t.Iterable[str]) -> str:
    """The most severe status; ``ok`` when there is nothing to judge."""
    worst = OK
    for status in statuses:
        if _RANK[status] > _RANK[worst]:
            worst = status
    return worst


def compare(value: float | None, warn: float | None = None, critical: float | None = None) -> str:
    """Judge a higher-is-worse measurement against optional thresholds.

    A value strictly above ``critical`` is critical, strictly above ``warn``
    is a warning; the runbook's rules read "5xx > 5 %", "P95 > 500 ms", so a
    value equal to the threshold passes. No value means we could not tell.
    """
    if value is None:
        return UNKNOWN
    if critical is not None and value > critical:
        return CRITICAL
    if warn is not None and value > warn:
        return WARN
    return OK


def compare_low(value: float | None, warn: float | None = None, critical: float | None = None) -> str:
    """Judge a lower-is-worse measurement (a hit rate): strictly below a threshold breaches it, as in ``compare``."""
    if value is None:
        return UNKNOWN
    if critical is not None and value < critical:
        return CRITICAL
    if warn is not None and value < warn:
        return WARN
    return OK


def threshold_values(
    cls: type,
    params: t.Mapping[str, t.Any],
    pairs: t.Iterable[tuple[str, str]] = (),
    low_pairs: t.Iterable[tuple[str, str]] = (),
    required: t.Iterable[str] = (),
    skip: t.Iterable[str] = (),
) -> dict[str, t.Any]:
    """The numbers of a thresholds dataclass from module options, checked the one way every check checks them.

    Each field of ``cls`` (but ``skip``) is the option of its name, or the field's default when the option is
    missing; an explicit None disables that level, any other value is a number that must not be negative. The names
    in ``required`` need a number. Each (warn, critical) of ``pairs`` is higher-is-worse, so the warning must not be
    above the critical level; of ``low_pairs`` lower-is-worse, so it must not be below it. A thresholds class builds
    itself with ``from_params``, which calls this and adds what is its own.
    """
    skipped = set(skip)
    values: dict[str, float | None] = {}
    for field in dataclasses.fields(cls):
        if field.name in skipped:
            continue
        value = params.get(field.name, field.default)
        number = None if value is None else float(value)
        if number is not None and number < 0:
            raise IncidentResponseError(f"{field.name} must not be negative, got {number:g}")
        values[field.name] = number
    for name in required:
        if values[name] is None:
            raise IncidentResponseError(f"{name} needs a number")
    for levels, worse, word in ((pairs, float.__gt__, "above"), (low_pairs, float.__lt__, "below")):
        for warn, critical in levels:
            low, high = values[warn], values[critical]
            if low is not None and high is not None and worse(low, high):
                raise IncidentResponseError(f"{warn} ({low:g}) is {word} {critical} ({high:g})")
    return values


def rated_finding(
    name: str,
    target: str,
    value: float | None,
    warn: float | None,
    critical: float | None,
    unit: str,
    evidence: str,
    remediation: str,
) -> Finding:
    """A higher-is-worse measurement judged by ``compare``; the remediation only when it is not ok."""
    status = compare(value, warn, critical)
    return Finding(
        name=name,
        target=target,
        status=status,
        value=value,
        threshold={"warn": warn, "critical": critical},
        unit=unit,
        evidence=evidence,
        remediation=remediation if status in (WARN, CRITICAL) else None,
    )


def summarize(findings: t.Iterable[Finding | dict[str, t.Any]]) -> dict[str, t.Any]:
    """Return ``findings`` as dicts, the worst status and a count per status."""
    rows = [f.as_dict() if isinstance(f, Finding) else dict(f) for f in findings]
    counts = dict.fromkeys(STATUSES, 0)
    for row in rows:
        counts[row["status"]] += 1
    return {
        "findings": rows,
        "status": worst_status(row["status"] for row in rows),
        "counts": counts,
    }
