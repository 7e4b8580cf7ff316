# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The ``fail_on`` option every inspection module shares.

A check reports; only ``fail_on`` turns its verdict into a task failure,
and the failure message names what breached in one line.
"""

from __future__ import annotations

import typing as t

from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    IncidentResponseError,
    rank,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._prerequisites import (
    Library,
    require,
)

FAIL_ON_CHOICES = ("none", "warn", "critical")


def fail_on_argument_spec() -> dict[str, dict[str, t.Any]]:
    """The ``fail_on`` option of an inspection module, as the ``fail_on`` doc fragment documents it."""
    return {"fail_on": {"type": "str", "choices": list(FAIL_ON_CHOICES), "default": "none"}}


def reaches(status: str, fail_on: str) -> bool:
    """True when ``status`` is at least as bad as ``fail_on`` (``none`` never is; ``unknown`` ranks below warn)."""
    return fail_on != "none" and rank(status) >= rank(fail_on)


def failure_summary(result: t.Mapping[str, t.Any], fail_on: str, subject: str) -> str:
    """One line for fail_json: what breached, where, by how much."""
    breaches = [f for f in result["findings"] if reaches(f["status"], fail_on)]
    parts = []
    for finding in breaches[:5]:
        unit = f" {finding['unit']}" if finding.get("unit") else ""
        value = "no value" if finding["value"] is None else f"{finding['value']}{unit}"
        parts.append(f"{finding['target']} {finding['name']} {finding['status']} ({value})")
    more = f" and {len(breaches) - 5} more" if len(breaches) > 5 else ""
    return (
        f"{subject} is {result['status']} (fail_on={fail_on}): {len(breaches)} finding(s) at or above "
        f"{fail_on}: {'; '.join(parts)}{more}"
    )


class _Module(t.Protocol):
    params: dict[str, t.Any]

    def fail_json(self, **kwargs: t.Any) -> t.NoReturn: ...

    def exit_json(self, **kwargs: t.Any) -> t.NoReturn: ...


def verdict_failure(result: t.Mapping[str, t.Any], fail_on: str | None, subject: str) -> str | None:
    """The task's failure message when the verdict reaches ``fail_on``, else None (a module or an action plugin)."""
    fail_on = fail_on or "none"
    return failure_summary(result, fail_on, subject) if reaches(result["status"], fail_on) else None


def exit_with_verdict(module: _Module, result: dict[str, t.Any], subject: str) -> t.NoReturn:
    """The end of every inspection module: fail when the verdict reaches ``fail_on``, else exit; never changed."""
    failure = verdict_failure(result, module.params.get("fail_on"), subject)
    if failure:
        module.fail_json(msg=failure, changed=False, **result)
    module.exit_json(changed=False, **result)


def run_check(module: _Module, check: t.Callable[[t.Mapping[str, t.Any]], dict[str, t.Any]],
              subject: str | t.Callable[[dict[str, t.Any]], str], libraries: t.Iterable[Library] = ()) -> t.NoReturn:
    """Run an inspection module's one call and exit with its verdict.

    A library of ``libraries`` that did not import fails the task first, naming the prerequisites role. Bad input
    or configuration (IncidentResponseError) fails the task with its message; everything a check finds is in the
    result, judged by ``fail_on``.
    """
    require(module, libraries)
    try:
        result = check(module.params)
    except IncidentResponseError as exc:
        module.fail_json(msg=str(exc))
    exit_with_verdict(module, result, subject(result) if callable(subject) else subject)
