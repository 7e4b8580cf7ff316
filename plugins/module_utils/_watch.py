# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The post-deploy watch: the runbook's "monitor for 15 minutes", done by a machine.

Every ``interval`` seconds, all targets' ``/metrics`` and health endpoints are
read at once; the 5xx ratio and P95 come from the counter and histogram
deltas since the previous read. A target that breaches in ``breach_limit``
samples in a row ends the watch at once, so a rollback starts within about
``breach_limit * interval`` seconds of a bad release going live.

With a Prometheus source, each sample asks Prometheus for the last window
instead (``_prometheus_query``), so the first sample is judged at once; the
health endpoints are still read directly.
"""

from __future__ import annotations

import dataclasses
import select
import time
import typing as t

from ansible_collections.platform_eng.incident_response.plugins.module_utils._fanout import fan_out
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    CRITICAL,
    UNKNOWN,
    Finding,
    IncidentResponseError,
    summarize,
    worst_status,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._http_health import (
    REMEDIATION_DOWN,
    Endpoint,
    Thresholds,
    error_rate_finding,
    latency_finding,
    probe,
    scrape,
    tls_context,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._prometheus_query import (
    PrometheusSource,
    instance_of,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._prometheus_query import (
    windows as prometheus_windows,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._prometheus_window import (
    MetricsSettings,
    MetricsWindow,
    Scrape,
    metrics_window,
)


@dataclasses.dataclass(frozen=True)
class Target:
    name: str
    metrics_url: str
    health_url: str | None = None
    prometheus_instance: str | None = None

    @property
    def instance(self) -> str:
        """The target's ``instance`` label in Prometheus: given, or the host:port of its /metrics URL."""
        return self.prometheus_instance or instance_of(self.metrics_url)


@dataclasses.dataclass(frozen=True)
class WatchSettings:
    duration: float
    interval: float
    breach_limit: int = 2
    timeout: float = 5.0
    min_requests: int = 1
    thresholds: Thresholds = Thresholds()
    metrics: MetricsSettings = MetricsSettings()
    prometheus: PrometheusSource | None = None

    def __post_init__(self) -> None:
        if self.interval <= 0 or self.duration < self.interval:
            raise IncidentResponseError(
                f"the watch needs interval > 0 and duration >= interval (got {self.duration:g} s / {self.interval:g} s)")
        if self.breach_limit < 1:
            raise IncidentResponseError(f"breach_limit must be at least 1, got {self.breach_limit}")


def _read(target: Target, settings: WatchSettings, tls, health: bool = True,
          scrape_metrics: bool = True) -> tuple[Scrape | Exception | None, str | None]:
    """One metrics scrape (unless Prometheus answers instead) and, when configured, one health request."""
    scraped: Scrape | Exception | None = None
    if scrape_metrics:
        try:
            scraped = scrape(target.metrics_url, {}, tls, settings.timeout, settings.metrics)
        except Exception as exc:  # noqa: BLE001 - a failed scrape is that sample's result  # pylint: disable=broad-except
            scraped = exc
    health_error = None
    if target.health_url and health:
        endpoint = Endpoint(target.name, target.health_url, (200,), (), 1, settings.timeout)
        sample = probe(endpoint, {}, tls)[0]
        health_error = sample.error
    return scraped, health_error


def _judge(target: Target, before: Scrape | Exception | None, after: Scrape | Exception | MetricsWindow | None,
           health_error: str | None, settings: WatchSettings) -> list[Finding]:
    findings = []
    if health_error is not None:
        findings.append(Finding("health", target.name, CRITICAL, value=health_error, evidence=health_error,
                                remediation=REMEDIATION_DOWN))
    if isinstance(after, Exception):
        findings.append(Finding("metrics", target.name, CRITICAL, value=None, evidence=f"{after}",
                                remediation=REMEDIATION_DOWN))
        return findings
    if isinstance(after, MetricsWindow):
        window = after
    elif not isinstance(before, Scrape) or after is None:
        findings.append(Finding("metrics", target.name, UNKNOWN, evidence="no earlier scrape to compare with"))
        return findings
    else:
        window = metrics_window(before, after, settings.metrics)
    origin = f" ({window.origin})" if window.origin else ""
    quiet = window.requests is not None and window.requests < settings.min_requests
    rate = None if quiet else window.error_rate_5xx
    evidence = (f"{window.requests_5xx:g} of {window.requests:g} requests were 5xx in {window.window_seconds:g} s{origin}"
                if window.requests else (window.error_rate_reason or "no requests"))
    findings.append(error_rate_finding("error_rate_5xx", target.name, rate, settings.thresholds, evidence))
    p95_evidence = (f"P95 from {window.observations or 0:g} observations over {window.window_seconds:g} s{origin}"
                    if window.latency_p95_ms is not None else (window.latency_reason or "no observations"))
    findings.append(latency_finding("latency_p95", target.name, None if quiet else window.latency_p95_ms,
                                    settings.thresholds, p95_evidence))
    return findings


def watch(targets: t.Sequence[Target], settings: WatchSettings, validate_certs: bool = True,
          ca_path: str | None = None, clock: t.Callable[[], float] = time.monotonic,
          sleep: t.Callable[[float], None] = time.sleep,
          heartbeat: t.Callable[[], str | None] | None = None) -> dict[str, t.Any]:
    """Sample every target each interval until the duration ends or a target breaches.

    ``heartbeat`` is called before every sample; when it returns a reason
    (the run that started the watch is gone, or no longer holds the deploy
    lock) the watch stops at once and says so: an interrupted watch never
    counts as a healthy one.
    """
    if not targets:
        raise IncidentResponseError("the watch needs at least one target")
    names = [target.name for target in targets]
    if len(set(names)) != len(names):
        raise IncidentResponseError(f"target names must be unique, got {names}")
    tls = tls_context(validate_certs, ca_path)
    workers = min(32, len(targets))

    fallback: list[str] = []

    def read_all(scrape_metrics: bool = settings.prometheus is None, health: bool = True) -> list[tuple[t.Any, str | None]]:
        outcomes = fan_out(lambda target: _read(target, settings, tls, health, scrape_metrics), targets, workers,
                           settings.timeout * 3)
        read = [t.cast(tuple, o.result) if o.ok else (IncidentResponseError(o.error), o.error) for o in outcomes]
        if scrape_metrics or settings.prometheus is None:
            return read
        try:
            found = prometheus_windows(settings.prometheus, [target.instance for target in targets],
                                       settings.metrics, tls)
        except IncidentResponseError as exc:
            # Prometheus gone must not make a bad release look healthy: read /metrics directly until it is back.
            fallback.append(str(exc))
            scraped = read_all(scrape_metrics=True, health=False)
            return [(metrics, health_error) for (metrics, _none), (_none2, health_error) in zip(scraped, read)]
        return [(found[target.instance], health_error) for target, (_none, health_error) in zip(targets, read)]

    started = clock()
    previous = [scraped for scraped, _health in read_all()]
    streak = dict.fromkeys(names, 0)
    samples: list[dict[str, t.Any]] = []
    findings: list[Finding] = []
    breached: list[str] = []
    saw_critical = False  # in any sample, not just the last one
    tick = started
    interrupted = None
    while clock() - started < settings.duration:
        tick += settings.interval
        sleep(max(0.0, tick - clock()))
        interrupted = heartbeat() if heartbeat else None
        if interrupted:
            break
        current = read_all()
        findings = []
        row: dict[str, t.Any] = {"t": round(clock() - started, 1), "targets": {}}
        for index, target in enumerate(targets):
            scraped, health_error = current[index]
            judged = _judge(target, previous[index], scraped, health_error, settings)
            findings.extend(judged)
            status = worst_status(f.status for f in judged)
            streak[target.name] = streak[target.name] + 1 if status == CRITICAL else 0
            saw_critical = saw_critical or status == CRITICAL
            row["targets"][target.name] = {
                "status": status,
                **{f.name: f.value for f in judged},
            }
            if isinstance(scraped, Scrape):
                previous[index] = scraped

        samples.append(row)
        breached = [name for name in names if streak[name] >= settings.breach_limit]
        if breached:
            break
    elapsed = round(clock() - started, 1)
    result = summarize(findings)
    result.update(
        breached=bool(breached),
        breached_targets=breached,
        elapsed_s=elapsed,
        samples=samples,
        interrupted=interrupted,
        prometheus_fallback=fallback[-1] if fallback else None,
        summary=(f"INTERRUPTED after {elapsed:g} s and {len(samples)} samples: {interrupted}" if interrupted
                 else _summary(breached, findings, elapsed, settings, len(samples))),
    )
    if interrupted:
        result["status"] = UNKNOWN
    if not breached and saw_critical:
        # A single bad sample that did not repeat is worth seeing, not a breach.
        result["status"] = "warn"
    return result


def _summary(breached: list[str], findings: list[Finding], elapsed: float, settings: WatchSettings,
             count: int) -> str:
    if not breached:
        return f"healthy: {count} samples over {elapsed:g} s, no target breached {settings.breach_limit} times in a row"
    worst = [f for f in findings if f.target in breached and f.status == CRITICAL]
    detail = "; ".join(f"{f.target} {f.name} {f.value}{f.unit or ''}" for f in worst[:6])
    return (f"BREACH after {elapsed:g} s ({settings.breach_limit} critical samples in a row on "
            f"{', '.join(breached)}): {detail}")


def caller_gone(fd: int = 1) -> str | None:
    """Whether whoever reads this process's output is gone (the controller's SSH session closed).

    A module's standard output is the SSH channel back to the controller.
    When the controller dies, sshd closes the reading end and the pipe
    reports POLLERR/POLLHUP; polling it costs nothing and writes nothing.
    """
    poller = select.poll()
    poller.register(fd, select.POLLERR | select.POLLHUP)
    try:
        events = poller.poll(0)
    except OSError:
        return None
    if events:
        return "the controller that started this watch is gone (its connection closed)"
    return None
