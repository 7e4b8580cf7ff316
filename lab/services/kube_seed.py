# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Seed objects and canned pod logs for the lab Kubernetes API emulator.

The seed mirrors what ``kubectl get pods -n incident-response`` shows on a
healthy production cluster: one Deployment, three Running and Ready pods
(restartCount 0, memory limit 512Mi) and their PodMetrics for
``kubectl top pods``.

Pod IPs are in 10.77.3.0/24: inside the lab's /16 (which has an
``unreachable`` route), so nothing that tries to reach a pod leaves the host.
"""
from __future__ import annotations

import datetime
import random
import uuid
from typing import Any

NAMESPACE = "incident-response"
APP = "incident-response"
TEMPLATE_HASH = "7c9d6f5b8d"
POD_NAMES = [f"{APP}-{TEMPLATE_HASH}-{suffix}" for suffix in ("4xk2p", "9qwtz", "m2hjl")]
CONTAINER = "incident-response"
IMAGE = "registry.irlab.test/incident-response:v1.2.3"
LABELS = {"app": APP, "pod-template-hash": TEMPLATE_HASH}
RESOURCES = {"requests": {"cpu": "250m", "memory": "256Mi"},
             "limits": {"cpu": "500m", "memory": "512Mi"}}

# Annotations a test sets (through the API) to choose what /log returns.
LOG_ANNOTATION = "irlab.test/log"
PREVIOUS_LOG_ANNOTATION = "irlab.test/previous-log"


def iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _uid(name: str) -> str:
    # Stable uids make restarts of the emulator look like the same cluster.
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{name}.irlab.test"))


def namespace_object(name: str, now: datetime.datetime) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "uid": _uid(f"ns-{name}"), "creationTimestamp": iso(now),
                         "labels": {"kubernetes.io/metadata.name": name}},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}


def container_spec() -> dict[str, Any]:
    return {"name": CONTAINER, "image": IMAGE, "imagePullPolicy": "IfNotPresent",
            "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
            "resources": RESOURCES,
            "readinessProbe": {"httpGet": {"path": "/health", "port": 8080}, "periodSeconds": 10}}


def deployment_object(now: datetime.datetime) -> dict[str, Any]:
    replicas = len(POD_NAMES)
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": APP, "namespace": NAMESPACE, "uid": _uid(f"deploy-{APP}"),
                     "creationTimestamp": iso(now), "labels": {"app": APP}, "generation": 1},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": APP}},
                 "template": {"metadata": {"labels": {"app": APP}},
                              "spec": {"containers": [container_spec()]}}},
        "status": {"observedGeneration": 1, "replicas": replicas, "readyReplicas": replicas,
                   "updatedReplicas": replicas, "availableReplicas": replicas},
    }


def pod_object(name: str, index: int, now: datetime.datetime) -> dict[str, Any]:
    started = iso(now)
    ready_conditions = [{"type": kind, "status": "True", "lastTransitionTime": started}
                        for kind in ("Initialized", "Ready", "ContainersReady", "PodScheduled")]
    pod_ip = f"10.77.3.{11 + index}"
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": name, "namespace": NAMESPACE, "uid": _uid(name), "creationTimestamp": started,
            "labels": dict(LABELS), "annotations": {},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "controller": True,
                                 "name": f"{APP}-{TEMPLATE_HASH}", "uid": _uid(f"rs-{APP}")}],
        },
        "spec": {"containers": [container_spec()], "nodeName": f"irlab-node-{index + 1}",
                 "restartPolicy": "Always"},
        "status": {
            "phase": "Running", "conditions": ready_conditions, "qosClass": "Burstable",
            "hostIP": "10.77.3.1", "podIP": pod_ip, "podIPs": [{"ip": pod_ip}], "startTime": started,
            "containerStatuses": [{
                "name": CONTAINER, "image": IMAGE, "imageID": f"{IMAGE}@sha256:{'ab' * 32}",
                "containerID": f"containerd://{uuid.uuid5(uuid.NAMESPACE_DNS, name).hex}",
                "ready": True, "started": True, "restartCount": 0,
                "state": {"running": {"startedAt": started}}, "lastState": {},
            }],
        },
    }


def pod_metrics_object(name: str, index: int, now: datetime.datetime) -> dict[str, Any]:
    return {"apiVersion": "metrics.k8s.io/v1beta1", "kind": "PodMetrics",
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": dict(LABELS)},
            "timestamp": iso(now), "window": "30s",
            "containers": [{"name": CONTAINER,
                            "usage": {"cpu": f"{40 + 15 * index}m", "memory": f"{180 + 20 * index}Mi"}}]}


def seed(now: datetime.datetime) -> list[tuple[str, str | None, dict[str, Any]]]:
    """(resource, namespace, object) triples to load at start-up."""
    objects: list[tuple[str, str | None, dict[str, Any]]] = [
        ("v1/namespaces", None, namespace_object(name, now)) for name in ("default", "kube-system", NAMESPACE)
    ]
    objects.append(("apps/v1/deployments", NAMESPACE, deployment_object(now)))
    for index, name in enumerate(POD_NAMES):
        objects.append(("v1/pods", NAMESPACE, pod_object(name, index, now)))
        objects.append(("metrics.k8s.io/v1beta1/pods", NAMESPACE, pod_metrics_object(name, index, now)))
    return objects


_ROUTES = [("GET", "/health"), ("GET", "/api/v1/incidents"), ("POST", "/api/v1/incidents"),
           ("GET", "/metrics"), ("PUT", "/api/v1/incidents/{id}")]
_ERRORS = ['status=503 error="5xx upstream error: database connection pool exhausted"',
           'status=500 error="5xx internal error: redis timeout after 2000ms"',
           'status=502 error="5xx bad gateway: upstream closed connection"']


def canned_log(pod_name: str, now: datetime.datetime, lines: int = 60) -> str:
    """Recent access-log lines, deterministic per pod, two of them 5xx ERRORs.

    Timestamps end at ``now`` so "errors in the last 5 minutes" checks see
    them; two in sixty stays under the runbook's 5 % alert, like a healthy pod.
    """
    rng = random.Random(pod_name)
    error_at = set(rng.sample(range(lines), 2))
    out = []
    for number in range(lines):
        stamp = (now - datetime.timedelta(seconds=10 * (lines - 1 - number))).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
        method, path = rng.choice(_ROUTES)
        path = path.replace("{id}", str(rng.randint(1, 999)))
        duration = rng.randint(2, 180)
        if number in error_at:
            out.append(f"{stamp}Z ERROR method={method} path={path} duration_ms={duration * 10} "
                       f"{rng.choice(_ERRORS)}")
        else:
            out.append(f"{stamp}Z INFO method={method} path={path} status=200 duration_ms={duration}")
    return "\n".join(out) + "\n"
