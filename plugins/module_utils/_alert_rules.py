# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The runbook's alerts as Prometheus rules, generated from one catalogue and a few parameters.

``CATALOGUE`` is the one list of alerts the collection ships: the runbook's
two named alerts (``incident-response_high_error_rate``: 5xx above 5 % over 5
minutes; ``incident-response_high_latency``: P95 above 500 ms), "service
down", "memory near its limit", and the SRE workbook's multi-window,
multi-burn-rate alerts on the 99.9 % SLA (fast burn pages, slow burn files a
ticket). Everything else derives from it: the rule file, the Alertmanager
inhibitions, the alert names the rulebook accepts and the diagnosis each one
runs.

``parameters`` merges and validates the windows, ``for`` durations and
thresholds (production values are the defaults, the runbook's minutes; the
lab passes seconds); ``rule_groups`` returns the rule file as plain data.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import typing as t
import urllib.parse

from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    IncidentResponseError,
)

SEVERITIES = ("P1", "P2", "P3", "P4")


@dataclasses.dataclass(frozen=True)
class AlertSpec:
    key: str
    title: str
    severity: str               # the default, from the runbook's severity table
    runbook_section: str        # the anchor of the runbook section that says what to do
    diagnose: str | None        # the diagnose.yml alert this one runs, if any
    per_instance: bool          # labelled with the scrape target (instance), or service-wide
    inhibits: tuple[str, ...] = ()  # while this fires, these alerts of the same instance (or job) stay quiet


CATALOGUE: tuple[AlertSpec, ...] = (
    # The runbook's review template: "Alert fired for high error rate ... on-call engineer paged ... Severity: P1".
    AlertSpec("high_error_rate", "High Error Rate", "P1", "high-error-rate", "high_error_rate", True),
    AlertSpec("high_latency", "High Latency", "P2", "high-latency", "high_latency", True),
    AlertSpec("service_down", "Service down", "P1", "service-wont-start", "service_wont_start", True,
              inhibits=("high_error_rate", "high_latency", "memory_near_limit")),
    AlertSpec("memory_near_limit", "Memory near its limit", "P3", "memory-leak", "memory_leak", True),
    AlertSpec("error_budget_fast_burn", "Error budget burning fast", "P1", "service-details", "high_error_rate",
              False, inhibits=("error_budget_slow_burn",)),
    AlertSpec("error_budget_slow_burn", "Error budget burning slowly", "P4", "service-details", None, False),
)
BY_KEY = {spec.key: spec for spec in CATALOGUE}

# The SRE workbook, chapter "Alerting on SLOs", table 5-8: 2 % of a 30-day budget in an hour or 5 % in six
# hours pages; 10 % in three days files a ticket (plus the workbook's 24 h / 2 h tier).
PAGE_WINDOWS = ({"long": "1h", "short": "5m", "burn_rate": 14.4}, {"long": "6h", "short": "30m", "burn_rate": 6})
TICKET_WINDOWS = ({"long": "1d", "short": "2h", "burn_rate": 3}, {"long": "3d", "short": "6h", "burn_rate": 1})

DEFAULTS: dict[str, t.Any] = {
    "service": "incident-response",
    # Every series of the service; the scrapes of /metrics are not the service's traffic. A matcher on a label a
    # series lacks compares with "", so the same selector picks `up` too.
    "selector": 'job="incident-response",path!="/metrics"',
    "requests_metric": "http_requests_total",
    "code_label": "code",
    "duration_metric": "http_request_duration_seconds",
    "memory_used_metric": "process_resident_memory_bytes",
    "memory_limit_metric": "app_memory_limit_bytes",
    # The runbook: 5xx > 5 % over 5 minutes; P95 > 500 ms. The runbook names no `for:`; one minute keeps a
    # single evaluation from paging.
    "error_rate_percent": 5.0,
    "error_rate_window": "5m",
    "error_rate_for": "1m",
    "latency_p95_ms": 500.0,
    "latency_window": "5m",
    "latency_for": "1m",
    "down_for": "1m",
    "memory_percent": 90.0,
    "memory_for": "10m",
    "slo_target_percent": 99.9,
    "slo_page_windows": [dict(w) for w in PAGE_WINDOWS],
    "slo_ticket_windows": [dict(w) for w in TICKET_WINDOWS],
    "slo_page_for": "2m",
    "slo_ticket_for": "15m",
    "evaluation_interval": "",
    "severities": {},
    "runbook_url": "https://git.example.com/platform-eng/incident-response/blob/main/runbook.md",
    "dashboards": {},
}

_DURATION_PART = re.compile(r"([0-9]+)(ms|s|m|h|d|w|y)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_METRIC = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
_MATCHER = rf'\s*{_LABEL}\s*(=|!=|=~|!~)\s*"(?:[^"\\\n]|\\.)*"\s*'
_SELECTOR = re.compile(rf"({_MATCHER}(,{_MATCHER})*)?")
_SERVICE = re.compile(r"[a-z][a-z0-9-]{0,62}")
_WINDOW_KEYS = ("long", "short", "burn_rate")


@dataclasses.dataclass(frozen=True)
class Parameters:
    values: dict[str, t.Any]

    def __getitem__(self, key: str) -> t.Any:
        return self.values[key]

    def severity(self, key: str) -> str:
        return self.values["severities"].get(key, BY_KEY[key].severity)


def duration_seconds(text: t.Any, name: str) -> float:
    """Seconds in a Prometheus duration such as ``5m``, ``1h30m`` or ``90s``; refuses anything else."""
    if not isinstance(text, str) or not text or _DURATION_PART.sub("", text) != "":
        raise IncidentResponseError(f"{name} must be a Prometheus duration such as 30s, 5m or 1h, got {text!r}")
    return sum(int(number) * _UNIT_SECONDS[unit] for number, unit in _DURATION_PART.findall(text))


def alert_name(service: str, key: str) -> str:
    """The name Prometheus and Alertmanager show: the runbook's ``incident-response_high_error_rate``."""
    return f"{service}_{key}"


def alert_names(service: str = DEFAULTS["service"]) -> dict[str, AlertSpec]:
    """Every shipped alert by its name: the allow-list alert-driven runs accept."""
    return {alert_name(service, spec.key): spec for spec in CATALOGUE}


def _number(values: dict[str, t.Any], key: str, low: float, high: float) -> float:
    value = values[key]
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise IncidentResponseError(f"{key} must be a number, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise IncidentResponseError(f"{key} must be a number, got {value!r}") from None
    if not (math.isfinite(number) and low < number < high):
        raise IncidentResponseError(f"{key} must be above {low:g} and below {high:g}, got {number:g}")
    return number


def _url(value: t.Any, where: str) -> str:
    parts = urllib.parse.urlsplit(value if isinstance(value, str) else "")
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c in value for c in '"\n{}'):
        raise IncidentResponseError(f"{where} must be an http(s) URL, got {value!r}")
    return value


def _windows(value: t.Any, key: str) -> list[dict[str, t.Any]]:
    if not isinstance(value, (list, tuple)) or not value:
        raise IncidentResponseError(f"{key} must be a list of {{long, short, burn_rate}} windows")
    windows = []
    for index, raw in enumerate(value):
        where = f"{key}[{index}]"
        if not isinstance(raw, t.Mapping) or sorted(raw) != sorted(_WINDOW_KEYS):
            raise IncidentResponseError(f"{where} must have exactly long, short and burn_rate, got {raw!r}")
        long_s, short_s = duration_seconds(raw["long"], f"{where}.long"), duration_seconds(raw["short"], f"{where}.short")
        if not 0 < short_s < long_s:
            raise IncidentResponseError(f"{where}: the short window ({raw['short']}) must be shorter than the long "
                                        f"one ({raw['long']})")
        windows.append({"long": raw["long"], "short": raw["short"],
                        "burn_rate": _number({"burn_rate": raw["burn_rate"]}, "burn_rate", 0, 1000)})
    return windows


def parameters(overrides: t.Mapping[str, t.Any] | None = None, **given: t.Any) -> Parameters:
    """The defaults, then ``given`` (the inventory's runbook values), then ``overrides``; all validated.

    An unknown key is refused with a hint, so a misspelt window never silently keeps its default.
    """
    values: dict[str, t.Any]
    values = {key: (list(value) if isinstance(value, list) else dict(value) if isinstance(value, dict) else value)
              for key, value in DEFAULTS.items()}
    for source in (given, dict(overrides or {})):
        for key, value in source.items():
            if key not in DEFAULTS:
                close = difflib.get_close_matches(str(key), DEFAULTS, n=1)
                hint = f"; did you mean {close[0]}?" if close else f"; known: {', '.join(sorted(DEFAULTS))}"
                raise IncidentResponseError(f"{key} is not an alert rule parameter{hint}")
            if value is not None:
                values[key] = value
    if not isinstance(values["service"], str) or not _SERVICE.fullmatch(values["service"]):
        raise IncidentResponseError(f"service must be lower-case letters, digits and dashes, got {values['service']!r}")
    if not isinstance(values["selector"], str) or not _SELECTOR.fullmatch(values["selector"]):
        raise IncidentResponseError(f"selector must be PromQL label matchers such as job=\"x\",path!=\"/metrics\", "
                                    f"got {values['selector']!r}")
    for key in ("requests_metric", "duration_metric", "memory_used_metric", "memory_limit_metric"):
        if not isinstance(values[key], str) or not _METRIC.fullmatch(values[key]):
            raise IncidentResponseError(f"{key} must be a Prometheus metric name, got {values[key]!r}")
    if not isinstance(values["code_label"], str) or not re.fullmatch(_LABEL, values["code_label"]):
        raise IncidentResponseError(f"code_label must be a label name, got {values['code_label']!r}")
    for key in ("error_rate_window", "latency_window"):
        duration_seconds(values[key], key)
    for key in ("error_rate_for", "latency_for", "down_for", "memory_for", "slo_page_for", "slo_ticket_for"):
        if values[key] not in ("", "0", "0s"):
            duration_seconds(values[key], key)
    if values["evaluation_interval"]:
        duration_seconds(values["evaluation_interval"], "evaluation_interval")
    values["error_rate_percent"] = _number(values, "error_rate_percent", 0, 100)
    values["latency_p95_ms"] = _number(values, "latency_p95_ms", 0, 1e9)
    values["memory_percent"] = _number(values, "memory_percent", 0, 100)
    values["slo_target_percent"] = _number(values, "slo_target_percent", 0, 100)
    values["slo_page_windows"] = _windows(values["slo_page_windows"], "slo_page_windows")
    values["slo_ticket_windows"] = _windows(values["slo_ticket_windows"], "slo_ticket_windows")
    budget = error_budget(values["slo_target_percent"])
    for key in ("slo_page_windows", "slo_ticket_windows"):
        for window in values[key]:
            if window["burn_rate"] * budget >= 1:
                raise IncidentResponseError(f"{key}: a burn rate of {window['burn_rate']:g} on a "
                                            f"{values['slo_target_percent']:g} % SLO can never be reached")
    severities = values["severities"]
    if not isinstance(severities, t.Mapping):
        raise IncidentResponseError("severities must map alert keys to P1..P4")
    for key, severity in severities.items():
        if key not in BY_KEY:
            raise IncidentResponseError(f"severities: {key!r} is not a shipped alert; known: {', '.join(BY_KEY)}")
        if severity not in SEVERITIES:
            raise IncidentResponseError(f"severities: {key} must be one of {', '.join(SEVERITIES)}, got {severity!r}")
    values["severities"] = dict(severities)
    _url(values["runbook_url"], "runbook_url")
    if not isinstance(values["dashboards"], t.Mapping):
        raise IncidentResponseError("dashboards must map a name to a URL")
    for name, url in values["dashboards"].items():
        _url(url, f"dashboards.{name}")
    values["dashboards"] = dict(values["dashboards"])
    return Parameters(values)


def error_budget(target_percent: float) -> float:
    """The share of requests allowed to fail: 0.001 for 99.9 %, without 1 - 0.999's rounding."""
    return round((100.0 - target_percent) / 100.0, 12)


def _num(value: float) -> str:
    """A threshold as PromQL reads it: 0.05, 0.5, 0.0144 (never 0.05000000000000001)."""
    return repr(round(value, 12))


def _record_name(params: Parameters, window: str) -> str:
    return f"{params['service'].replace('-', '_')}:http_error_ratio:rate{window}"


def _sel(params: Parameters, *extra: str) -> str:
    matchers = [m for m in (params["selector"], *extra) if m]
    return "{" + ",".join(matchers) + "}"


def _error_ratio(params: Parameters, window: str, by: str) -> str:
    errors = _sel(params, f'{params["code_label"]}=~"5.."')
    total = _sel(params)
    metric = params["requests_metric"]
    return (f"sum by ({by}) (rate({metric}{errors}[{window}]))\n"
            f"/\nsum by ({by}) (rate({metric}{total}[{window}]))")


def _annotations(params: Parameters, spec: AlertSpec, summary: str, description: str) -> dict[str, str]:
    notes = {"summary": summary, "description": description,
             "runbook_url": f"{params['runbook_url']}#{spec.runbook_section}"}
    if params["dashboards"]:
        notes["dashboards"] = "\n".join(f"{name}: {url}" for name, url in params["dashboards"].items())
    return notes


def _alert(params: Parameters, key: str, expr: str, hold: str, summary: str, description: str) -> dict[str, t.Any]:
    spec = BY_KEY[key]
    rule: dict[str, t.Any] = {"alert": alert_name(params["service"], key), "expr": expr}
    if hold not in ("", "0", "0s"):
        rule["for"] = hold
    rule["labels"] = {"severity": params.severity(key), "service": params["service"]}
    rule["annotations"] = _annotations(params, spec, summary, description)
    return rule


def _burn_expr(params: Parameters, windows: t.Sequence[t.Mapping[str, t.Any]]) -> str:
    budget = error_budget(params["slo_target_percent"])
    parts = []
    for window in windows:
        limit = _num(window["burn_rate"] * budget)
        parts.append(f"(\n  {_record_name(params, window['long'])} > {limit}\nand\n"
                     f"  {_record_name(params, window['short'])} > {limit}\n)")
    return "\nor\n".join(parts)


def rule_groups(params: Parameters) -> dict[str, t.Any]:
    """The rule file (``groups:``) for ``promtool check rules`` and Prometheus's ``rule_files``."""
    service, sel = params["service"], _sel(params)
    on = "job, instance"
    error_limit = params["error_rate_percent"]
    latency_s = params["latency_p95_ms"] / 1000.0
    ew, lw = params["error_rate_window"], params["latency_window"]
    slo = params["slo_target_percent"]
    windows = sorted({w[k] for w in params["slo_page_windows"] + params["slo_ticket_windows"] for k in ("long", "short")},
                     key=lambda w: duration_seconds(w, w))
    recording = [{"record": _record_name(params, window), "expr": _error_ratio(params, window, "job")}
                 for window in windows]
    page = [f"{w['long']}/{w['short']} above {w['burn_rate']:g}x" for w in params["slo_page_windows"]]
    ticket = [f"{w['long']}/{w['short']} above {w['burn_rate']:g}x" for w in params["slo_ticket_windows"]]
    buckets = f'{params["duration_metric"]}_bucket{sel}'
    alerts = [
        _alert(params, "high_error_rate",
               f"(\n{_error_ratio(params, ew, on)}\n) > {_num(error_limit / 100.0)}",
               params["error_rate_for"],
               "5xx ratio {{ $value | humanizePercentage }} on {{ $labels.instance }} over " + ew
               + f" (runbook: above {error_limit:g} %)",
               f"More than {error_limit:g} % of the requests to {service} on {{{{ $labels.instance }}}} answered 5xx "
               f"over {ew}. Check for recent deployments; if recent deployment, rollback immediately."),
        _alert(params, "high_latency",
               f"histogram_quantile(0.95, sum by ({on}, le) (rate({buckets}[{lw}]))) > {_num(latency_s)}",
               params["latency_for"],
               "P95 latency {{ $value | humanizeDuration }} on {{ $labels.instance }} over " + lw
               + f" (runbook: above {params['latency_p95_ms']:g} ms)",
               f"The 95th percentile of {service}'s request duration on {{{{ $labels.instance }}}} is above "
               f"{params['latency_p95_ms']:g} ms over {lw}. Look for slow queries and the cache hit rate."),
        _alert(params, "service_down", f"up{sel} == 0", params["down_for"],
               "{{ $labels.instance }} does not answer its scrape",
               f"Prometheus cannot scrape {service} on {{{{ $labels.instance }}}}: the service is down or "
               "unreachable. Check it is running and read its log."),
        _alert(params, "memory_near_limit",
               f"max by ({on}) ({params['memory_used_metric']}{sel})\n/\n"
               f"max by ({on}) ({params['memory_limit_metric']}{sel})\n> {_num(params['memory_percent'] / 100.0)}",
               params["memory_for"],
               "Memory at {{ $value | humanizePercentage }} of its limit on {{ $labels.instance }}"
               + f" (above {params['memory_percent']:g} %)",
               f"{service} on {{{{ $labels.instance }}}} uses more than {params['memory_percent']:g} % of its memory "
               "limit. Runbook 'Memory Leak': increase the memory limit as a temporary fix, then profile."),
        _alert(params, "error_budget_fast_burn", _burn_expr(params, params["slo_page_windows"]),
               params["slo_page_for"],
               f"{service} is burning its {slo:g} % error budget fast ({', '.join(page)})",
               f"At this rate the {slo:g} % SLA's error budget is gone within days: page."),
        _alert(params, "error_budget_slow_burn", _burn_expr(params, params["slo_ticket_windows"]),
               params["slo_ticket_for"],
               f"{service} is burning its {slo:g} % error budget ({', '.join(ticket)})",
               f"The {slo:g} % SLA's error budget runs out before the month ends at this rate: ticket."),
    ]
    interval = {"interval": params["evaluation_interval"]} if params["evaluation_interval"] else {}
    return {"groups": [
        {"name": f"{service}.slo-recording", **interval, "rules": recording},
        {"name": f"{service}.alerts", **interval, "rules": alerts},
    ]}


def inhibitions(service: str = DEFAULTS["service"]) -> list[dict[str, t.Any]]:
    """Alertmanager inhibit rules from the catalogue: a firing service-down silences that instance's symptoms."""
    rules = []
    for spec in CATALOGUE:
        if not spec.inhibits:
            continue
        targets = "|".join(alert_name(service, key) for key in spec.inhibits)
        rules.append({"source_matchers": [f'alertname="{alert_name(service, spec.key)}"'],
                      "target_matchers": [f'alertname=~"{targets}"'],
                      "equal": ["instance"] if spec.per_instance else ["job"]})
    return rules
