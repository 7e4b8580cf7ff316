# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Kubernetes: the shared connection options and the workload health check.

``connection_argument_spec`` is the one connection spec every Kubernetes
module merges in (documented once in the ``k8s`` doc fragment).
``check_k8s_workload_health`` lists the pods of a namespace that match the label
selectors, reads the metrics API when it is served, fetches the recent log
of every matching pod concurrently and counts a pattern in each, then hands
the pods to the evaluators in ``_k8s_health``.

An API server that cannot be reached or refuses our credentials is a
``critical`` finding, not an exception: a health check that crashes tells
the on-call engineer nothing.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
import traceback
import typing as t

from ansible.module_utils.basic import env_fallback

try:
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config
    from kubernetes.client.exceptions import ApiException
    from kubernetes.config.config_exception import ConfigException
except ImportError:
    KUBERNETES_IMPORT_ERROR: str | None = traceback.format_exc()
    ApiException = ConfigException = Exception  # type: ignore[misc,assignment]
else:
    KUBERNETES_IMPORT_ERROR = None

from ansible_collections.platform_eng.incident_response.plugins.module_utils import _k8s_health as health
from ansible_collections.platform_eng.incident_response.plugins.module_utils._fanout import (
    describe_error,
    fan_out,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    CRITICAL,
    UNKNOWN,
    Finding,
    IncidentResponseError,
    summarize,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._k8s_selector import (
    Requirement,
    parse_selector,
    selector_matches,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._prerequisites import missing_library

REMEDIATION_API = (
    "The Kubernetes API did not answer (see evidence): check the API address and port, that this host can reach it "
    "(run from the bastion if the API is private), and that the token or kubeconfig is valid for the namespace."
)
REMEDIATION_NO_PODS = (
    "No pod matches: the workload is down or the selector is wrong. Check the Deployment "
    "(kubectl get deploy,rs,pods -n NAMESPACE --show-labels) and the label selectors."
)
REMEDIATION_NO_METRICS = (
    "Memory use against limits was not checked: the metrics API (metrics.k8s.io, served by metrics-server) is not "
    "available. Install or repair metrics-server, or set metrics=false to skip this check."
)

MAX_TAIL_LINES = 10000
LOG_LIMIT_BYTES = 1024 * 1024  # the API stops sending after this; a runaway log never fills memory
SAMPLE_LINE_CHARS = 500
PAGE_SIZE = 500


def connection_argument_spec() -> dict[str, t.Any]:
    """The connection options every Kubernetes module takes; names and env vars as in kubernetes.core."""
    return {
        "host": {"type": "str", "fallback": (env_fallback, ["K8S_AUTH_HOST"])},
        "api_key": {"type": "str", "no_log": True, "fallback": (env_fallback, ["K8S_AUTH_API_KEY"])},
        "kubeconfig": {"type": "path", "fallback": (env_fallback, ["K8S_AUTH_KUBECONFIG"])},
        "context": {"type": "str", "fallback": (env_fallback, ["K8S_AUTH_CONTEXT"])},
        "validate_certs": {"type": "bool", "aliases": ["verify_ssl"],
                           "fallback": (env_fallback, ["K8S_AUTH_VERIFY_SSL"])},
        "ca_cert": {"type": "path", "aliases": ["ssl_ca_cert"], "fallback": (env_fallback, ["K8S_AUTH_SSL_CA_CERT"])},
    }


def _normalize_host(host: str) -> str:
    host = host.strip().rstrip("/")
    # kubectl --server assumes https when no scheme is given; so do we.
    return host if re.match(r"^https?://", host) else f"https://{host}"


def build_configuration(params: t.Mapping[str, t.Any], pool_size: int = 16) -> t.Any:
    """A kubernetes client Configuration from the connection options.

    An explicit ``host`` is used as is; ``kubeconfig``/``context`` (or, with
    neither host nor kubeconfig, ~/.kube/config and then the in-cluster
    service account) fill in the rest. Options given explicitly win.
    """
    if KUBERNETES_IMPORT_ERROR is not None:
        raise IncidentResponseError(missing_library("kubernetes"))
    host, kubeconfig, context = params.get("host"), params.get("kubeconfig"), params.get("context")
    configuration = k8s_client.Configuration()
    if kubeconfig or context or not host:
        try:
            k8s_config.load_kube_config(config_file=kubeconfig, context=context,
                                        client_configuration=configuration, persist_config=False)
        except (ConfigException, OSError, ValueError, TypeError) as exc:
            if kubeconfig or context or host:
                raise IncidentResponseError(
                    f"Cannot load kubeconfig {kubeconfig or '~/.kube/config'}"
                    f"{f' (context {context})' if context else ''}: {describe_error(exc)}") from None
            try:
                k8s_config.load_incluster_config(client_configuration=configuration)
            except ConfigException:
                raise IncidentResponseError(
                    "No Kubernetes connection: set host (or K8S_AUTH_HOST) or kubeconfig; no ~/.kube/config "
                    f"and not running in a pod ({describe_error(exc)})") from None
    if host:
        configuration.host = _normalize_host(host)
    if params.get("api_key"):
        configuration.api_key = {"authorization": f"Bearer {params['api_key']}"}
        configuration.api_key_prefix = {}
    if params.get("validate_certs") is not None:
        configuration.verify_ssl = bool(params["validate_certs"])
    if params.get("ca_cert"):
        configuration.ssl_ca_cert = params["ca_cert"]
    # A health check reports a flaky API instead of hiding it behind retries.
    configuration.retries = 0
    configuration.connection_pool_maxsize = max(pool_size, 1)
    return configuration


# ---------------------------------------------------------------------------
# The plan: every option validated before the first request
# ---------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class LogPlan:
    pattern: str | None
    compiled: re.Pattern[str] | None  # the pattern, escaped unless it is a regex
    tail_lines: int
    since_seconds: int | None
    container: str | None
    previous: bool
    sample_lines: int


@dataclasses.dataclass(frozen=True)
class Plan:
    namespace: str
    selectors: tuple[str, ...]
    requirements: tuple[Requirement, ...]
    thresholds: health.Thresholds
    metrics: bool
    logs: LogPlan | None
    timeout: float
    max_workers: int


def _log_plan(raw: t.Mapping[str, t.Any] | None) -> LogPlan | None:
    if raw is None:
        return None
    pattern = raw.get("pattern") or None
    compiled = None
    if pattern is not None:
        flags = re.IGNORECASE if raw.get("ignore_case") else 0
        try:
            compiled = re.compile(pattern if raw.get("regex") else re.escape(pattern), flags)
        except re.error as exc:
            raise IncidentResponseError(f"logs.pattern {pattern!r} is not a valid regular expression: {exc}") from None
    tail_lines = int(given if (given := raw.get("tail_lines")) is not None else 100)
    if not 1 <= tail_lines <= MAX_TAIL_LINES:
        raise IncidentResponseError(f"logs.tail_lines must be between 1 and {MAX_TAIL_LINES}, got {tail_lines}")
    since = raw.get("since_seconds")
    if since is not None and int(since) < 1:
        raise IncidentResponseError(f"logs.since_seconds must be at least 1, got {since}")
    sample_lines = int(given if (given := raw.get("sample_lines")) is not None else 5)
    if sample_lines < 0:
        raise IncidentResponseError(f"logs.sample_lines must not be negative, got {sample_lines}")
    return LogPlan(pattern, compiled, tail_lines, int(since) if since is not None else None,
                   raw.get("container") or None, bool(raw.get("previous")), sample_lines)


def build_plan(params: t.Mapping[str, t.Any]) -> Plan:
    namespace = str(params.get("namespace") or "").strip()
    if not namespace:
        raise IncidentResponseError("namespace must not be empty")
    selectors = tuple(s.strip() for s in params.get("label_selectors") or [] if s and s.strip())
    requirements: list[Requirement] = []
    for text in selectors:
        try:
            requirements.extend(parse_selector(text))
        except ValueError as exc:
            raise IncidentResponseError(f"label selector {text!r} is not valid: {exc}") from None
    logs = _log_plan(params.get("logs"))
    thresholds = health.Thresholds(
        restarts_warn=params.get("restarts_warn", 0),
        restarts_critical=params.get("restarts_critical", 5),
        memory_warn_percent=params.get("memory_warn_percent", 80.0),
        memory_critical_percent=params.get("memory_critical_percent", 90.0),
        log_matches_warn=(params.get("logs") or {}).get("warn_matches", 0),
        log_matches_critical=(params.get("logs") or {}).get("critical_matches"),
    )
    timeout = float(params.get("timeout") or 10.0)
    max_workers = int(params.get("max_workers") or 16)
    if timeout <= 0 or max_workers < 1:
        raise IncidentResponseError("timeout must be above 0 and max_workers at least 1")
    return Plan(namespace, selectors, tuple(requirements), thresholds, bool(params.get("metrics", True)),
                logs, timeout, max_workers)


# ---------------------------------------------------------------------------
# Talking to the API
# ---------------------------------------------------------------------------

def describe_api_error(exc: BaseException) -> str:
    """What the API said (status, reason, its own message), or why it could not be reached."""
    if isinstance(exc, ApiException) and getattr(exc, "status", None):
        message = ""
        try:
            message = json.loads(exc.body or "{}").get("message", "")
        except (ValueError, AttributeError):
            message = ""
        return f"HTTP {exc.status} {exc.reason}" + (f": {message}" if message else "")
    reason = getattr(exc, "reason", None)  # urllib3's MaxRetryError wraps the socket error
    if isinstance(reason, BaseException):
        return describe_error(reason)
    return describe_error(exc)


def list_pods(core: t.Any, plan: Plan) -> list[dict[str, t.Any]]:
    """Every pod in the namespace that matches the selectors, following the API's pages."""
    pods: list[dict[str, t.Any]] = []
    token = None
    while True:
        kwargs: dict[str, t.Any] = {"limit": PAGE_SIZE, "_preload_content": False, "_request_timeout": plan.timeout}
        if plan.selectors:
            kwargs["label_selector"] = ",".join(plan.selectors)
        if token:
            kwargs["_continue"] = token
        response = core.list_namespaced_pod(plan.namespace, **kwargs)
        page = json.loads(response.data)
        pods.extend(page.get("items") or [])
        token = (page.get("metadata") or {}).get("continue")
        if not token:
            break
    # The API applies the selector already; applying it again costs nothing and keeps the
    # result right against servers that ignore labelSelector (kmock, which the lab builds on).
    return [pod for pod in pods if selector_matches(plan.requirements, pod)]


@dataclasses.dataclass
class Metrics:
    available: bool
    by_pod: dict[str, dict[str, t.Any]]
    error: str | None = None


def fetch_metrics(custom: t.Any, plan: Plan) -> Metrics:
    """PodMetrics by pod name; a cluster without metrics-server answers 404 or 503, which is not an error here."""
    try:
        kwargs: dict[str, t.Any] = {"_request_timeout": plan.timeout}
        if plan.selectors:
            kwargs["label_selector"] = ",".join(plan.selectors)
        answer = custom.list_namespaced_custom_object("metrics.k8s.io", "v1beta1", plan.namespace, "pods", **kwargs)
    # Any failure means "no metrics": reported as unknown, never an error.
    except Exception as exc:  # noqa: BLE001 - see above  # pylint: disable=broad-except
        return Metrics(False, {}, describe_api_error(exc))
    items = (answer or {}).get("items") or []
    return Metrics(True, {t.cast(str, (item.get("metadata") or {}).get("name")): item for item in items})


def _log_container(pod: dict[str, t.Any], plan: LogPlan) -> str | None:
    if plan.container:
        return plan.container
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    containers = (pod.get("spec") or {}).get("containers") or [{}]
    # kubectl logs picks this annotation first, then the first container; so do we.
    return annotations.get("kubectl.kubernetes.io/default-container") or containers[0].get("name")


def read_log(core: t.Any, pod: dict[str, t.Any], plan: LogPlan, timeout: float) -> dict[str, t.Any]:
    """The pod's recent log: how many lines, how many match, and a bounded sample (the latest ones)."""
    metadata = pod.get("metadata") or {}
    container = _log_container(pod, plan)
    report: dict[str, t.Any] = {"container": container, "pattern": plan.pattern, "lines": 0, "matches": None,
                                "sample": [], "error": None}
    kwargs: dict[str, t.Any] = {"tail_lines": plan.tail_lines, "limit_bytes": LOG_LIMIT_BYTES,
                                "_preload_content": False, "_request_timeout": timeout}
    if container:
        kwargs["container"] = container
    if plan.since_seconds:
        kwargs["since_seconds"] = plan.since_seconds
    if plan.previous:
        kwargs["previous"] = True
    try:
        response = core.read_namespaced_pod_log(metadata.get("name"), metadata.get("namespace"), **kwargs)
        text = response.data.decode("utf-8", errors="replace")
    # One pod's log failing must not hide the others.
    except Exception as exc:  # noqa: BLE001 - see above  # pylint: disable=broad-except
        report["error"] = describe_api_error(exc)
        return report
    lines = text.splitlines()
    report["lines"] = len(lines)
    chosen = lines
    if plan.compiled is not None:
        chosen = [line for line in lines if plan.compiled.search(line)]
        report["matches"] = len(chosen)
    if plan.sample_lines:
        report["sample"] = [line[:SAMPLE_LINE_CHARS] for line in chosen[-plan.sample_lines:]]
    return report


def fetch_logs(core: t.Any, pods: list[dict[str, t.Any]], plan: Plan) -> dict[str, dict[str, t.Any]]:
    """Logs of ALL matching pods at once (kubernetes.core's k8s_log reads only the first pod), by pod name."""
    if plan.logs is None:
        raise IncidentResponseError("fetch_logs called without a log plan")
    log_plan = plan.logs
    outcomes = fan_out(lambda pod: read_log(core, pod, log_plan, plan.timeout), pods,
                       max_workers=plan.max_workers, timeout=plan.timeout + 2.0)
    reports = {}
    for outcome in outcomes:
        report = outcome.result
        if report is None:  # the deadline passed before the API answered
            report = {"container": _log_container(outcome.item, log_plan), "pattern": log_plan.pattern, "lines": 0,
                      "matches": None, "sample": [], "error": outcome.error}
        reports[health.name_of(outcome.item)] = report
    return reports


# ---------------------------------------------------------------------------
# The check
# ---------------------------------------------------------------------------

def _api_down_result(plan: Plan, host: str, error: str, started: float) -> dict[str, t.Any]:
    finding = Finding("kube_api", host, CRITICAL, evidence=f"listing pods in namespace {plan.namespace}: {error}",
                      remediation=REMEDIATION_API)
    return _result(plan, host, [], [finding], Metrics(False, {}, "not queried: the API did not answer"), started)


def _result(plan: Plan, host: str, pods: list[dict[str, t.Any]], findings: list[Finding], metrics: Metrics,
            started: float) -> dict[str, t.Any]:
    result = summarize(findings)
    result.update(
        namespace=plan.namespace,
        label_selectors=list(plan.selectors),
        api_host=host,
        pods=pods,
        crash_loop_backoff=[p["name"] for p in pods if p["crash_loop_backoff"]],
        oom_killed=[p["name"] for p in pods if p["oom_killed"]],
        not_ready=[p["name"] for p in pods if not p["ready"] and p["phase"] != "Succeeded"],
        metrics={"available": metrics.available if plan.metrics else None, "error": metrics.error},
        elapsed_ms=round((time.monotonic() - started) * 1000.0, 3),
    )
    return result


def check_k8s_workload_health(params: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """List, measure and judge the pods; the module's whole result as a plain dict."""
    started = time.monotonic()
    plan = build_plan(params)
    configuration = build_configuration(params, pool_size=plan.max_workers)
    host = configuration.host
    with k8s_client.ApiClient(configuration) as api:
        core = k8s_client.CoreV1Api(api)
        try:
            pods = list_pods(core, plan)
        # Unreachable or refused: a finding, not a crash.
        except Exception as exc:  # noqa: BLE001 - see above  # pylint: disable=broad-except
            return _api_down_result(plan, host, describe_api_error(exc), started)
        metrics = fetch_metrics(k8s_client.CustomObjectsApi(api), plan) if plan.metrics else Metrics(False, {})
        logs = fetch_logs(core, pods, plan) if plan.logs is not None and pods else {}

    findings: list[Finding] = []
    summaries = []
    selector_text = ",".join(plan.selectors) or "(none)"
    if not pods:
        findings.append(Finding("pods_found", f"{plan.namespace}", CRITICAL, value=0, unit="pods",
                                evidence=f"no pod in namespace {plan.namespace} matches label selector {selector_text}",
                                remediation=REMEDIATION_NO_PODS))
    if plan.metrics and not metrics.available:
        findings.append(Finding("memory_usage", plan.namespace, UNKNOWN, unit="%",
                                evidence=f"metrics.k8s.io API not available: {metrics.error}",
                                remediation=REMEDIATION_NO_METRICS))
    for pod in pods:
        name = health.name_of(pod)
        pod_metrics = metrics.by_pod.get(name)
        findings.extend(health.pod_findings(pod, pod_metrics, plan.metrics and metrics.available, plan.thresholds))
        summary = health.pod_summary(pod, pod_metrics)
        if plan.logs is not None:
            summary["logs"] = logs.get(name)
            if plan.logs.pattern is not None and name in logs:
                findings.append(health.log_finding(pod, logs[name], plan.thresholds))
        summaries.append(summary)
    return _result(plan, host, summaries, findings, metrics, started)
