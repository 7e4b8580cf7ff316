#!/usr/bin/env python3
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lab Kubernetes API server: kmock's in-memory KubernetesEmulator on a port.

Serves plain HTTP (no TLS, no authentication) at http://ADDR:PORT, seeded
with namespace ``incident-response``: Deployment ``incident-response``,
three Running/Ready pods ``incident-response-7c9d6f5b8d-*`` (label
app=incident-response, restartCount 0, memory limit 512Mi) and their
PodMetrics (see kube_seed.py). State lives in memory: a restart re-seeds.

Writes ``STATE_DIR/kubeconfig`` (context ``irlab``, namespace
incident-response) for kubectl, kubernetes.core and the Python client.

Changing pod state, as a test or a fault-injection step does, goes through
the ordinary API (the Python client with host=http://ADDR:PORT):
  * create/replace/patch/delete pods; the ``status`` sent is stored as is,
    e.g. containerStatuses[0].state.waiting.reason=CrashLoopBackOff or
    lastState.terminated.reason=OOMKilled with restartCount 5. (A real API
    server ignores status on create/replace; here that is how state is set.)
  * replace_namespaced_pod_status / patch_namespaced_pod_status work too.
  * pod logs: annotation ``irlab.test/log`` (and ``irlab.test/previous-log``
    for ?previous=true) replaces the canned log text of that pod.
  * PodMetrics (metrics.k8s.io/v1beta1 pods) can be replaced the same way
    through CustomObjectsApi, to fake memory growth for ``kubectl top``.

What this adds to kmock 0.8, and why:
  * GET .../pods/NAME/log answers text/plain (kmock would answer the pod
    JSON); honours tailLines, container and previous.
  * PUT (replace) is stored (kmock maps PUT to no action and answers 500);
    PUT .../status replaces only the status.
  * list responses carry ``kind: PodList``/``apiVersion`` and honour
    labelSelector (=, ==, !=, in, notin, exists, !exists) and equality
    fieldSelector on any dotted path (kmock ignores both); so do watches.
  * create fills metadata.namespace/uid/creationTimestamp/resourceVersion and
    honours generateName; every change bumps resourceVersion.
  * discovery comes from kmock's bundled K3s resource list (what
    kubernetes.dynamic / kubernetes.core need), with two kmock bugs fixed:
    the core groupVersion "/v1" (kubectl then resolved "pods" to
    metrics.k8s.io) and subresources that copied their parent's short names.
  * /api/v1/namespaces[/NAME] is served here: kmock 0.8 cannot parse that
    path (500). Namespaces are read-only (default, kube-system,
    incident-response).
  * /version/ (the typed client's VersionApi) as well as /version.
  * kubectl's server-side printing (Table): READY/STATUS/RESTARTS for pods,
    so ``kubectl get pods`` shows CrashLoopBackOff (see kube_tables.py).
  * errors are Kubernetes Status objects with the usual reasons and
    messages (``pods "x" not found``), not kmock's hints and tracebacks.
  * kmock keeps every request, error and object version in memory; this
    server drops them after each request so a long-running lab stays small.

Limits (kmock or deliberate): no authentication, RBAC or admission; no
controllers (deleting a pod does not recreate it, a Deployment never
changes pods); resourceVersion is not checked (no 409 on stale updates);
strategic-merge patches replace lists instead of merging them by key;
server-side apply (apply-patch+yaml), deletecollection, ``limit``/continue
paging and Table output for watches are unsupported; ``follow`` on logs
returns the text and closes; watches ignore resourceVersion.

Usage: kube_emulator.py --bind 127.0.0.1 --port 6443 --state-dir /var/lib/irlab/kube
"""
from __future__ import annotations

import argparse
import asyncio
import contextvars
import datetime
import json
import logging
import pathlib
import re
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp.web
import attrs
import kmock

import kube_seed
import kube_tables

LOG = logging.getLogger("kube_emulator")
PODS = kmock.resource("v1/pods")
NAMESPACES = kmock.resource("v1/namespaces")
_NAMESPACE_PATH = re.compile(r"/api/v1/namespaces(?:/([^/]+))?/?")
# The request being handled, per asyncio task; kmock's error hook gets only the exception.
_CURRENT_REQUEST: contextvars.ContextVar[kmock.Request | None] = contextvars.ContextVar("request", default=None)
HISTORY_KEEP = 3  # object versions kept per object: enough for DELETE's "last state"

_SELECTOR_TERM = re.compile(r"\s*([^,()]+?(?:\s+(?:in|notin)\s*\([^)]*\))?)\s*(?:,|$)")


def _status(code: int, reason: str, message: str, **details: str) -> aiohttp.web.Response:
    return aiohttp.web.json_response(
        {"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
         "code": code, "reason": reason, "message": message, "details": details}, status=code)


def _wants_table(request: kmock.Request) -> bool:
    """kubectl asks for server-side printing with an Accept header (see kube_tables)."""
    accept = next((value for key, value in request.headers.items() if key.lower() == "accept"), "")
    return kube_tables.wants_table(accept)


def _lookup(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = obj.get(part) if isinstance(obj, dict) else None
    return obj


def matches_labels(labels: dict[str, str], selector: str) -> bool:
    """Kubernetes label selector semantics for the forms kubectl users type."""
    for term in (t for t in _SELECTOR_TERM.findall(selector) if t.strip()):
        term = term.strip()
        set_form = re.fullmatch(r"([^\s!=]+)\s+(in|notin)\s*\(([^)]*)\)", term)
        if set_form:
            key, operator, values = set_form.groups()
            wanted = {value.strip() for value in values.split(",")}
            if (labels.get(key) in wanted) != (operator == "in"):
                return False
        elif "!=" in term:
            key, value = (part.strip() for part in term.split("!=", 1))
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = (part.strip() for part in term.replace("==", "=").split("=", 1))
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif term not in labels:
            return False
    return True


def matches_fields(obj: dict[str, Any], selector: str) -> bool:
    for term in (t.strip() for t in selector.split(",") if t.strip()):
        negate = "!=" in term
        parts = re.split(r"!=|==|=", term, maxsplit=1)
        if len(parts) != 2:
            raise kmock.KubernetesError(status=400, reason="BadRequest", message=f"invalid field selector: {term}")
        key, value = (part.strip() for part in parts)
        actual = _lookup(obj, key)
        if (str(actual) == value if actual is not None else value == "") == negate:
            return False
    return True


def selected(obj: dict[str, Any], params: Mapping[str, str]) -> bool:
    """Whether a list or watch with these query parameters includes the object."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return (matches_labels(labels, params.get("labelSelector") or "")
            and matches_fields(obj, params.get("fieldSelector") or ""))


@attrs.define(kw_only=True)
class LabKubernetes(kmock.KubernetesEmulator):
    """kmock's emulator plus the behaviour the lab's clients rely on (see module doc)."""

    _resource_version: int = attrs.field(default=1000, init=False)

    def next_resource_version(self) -> str:
        self._resource_version += 1
        return str(self._resource_version)

    def seed(self, now: datetime.datetime) -> None:
        # Discovery for every built-in resource (a K3s list bundled with kmock),
        # which kubernetes.dynamic and kubernetes.core need before any call.
        self.resources.load_bundled()
        # The typed client's VersionApi asks for "/version/"; kmock knows "/version".
        self.fallback["get /version/"] << self._serve_server_version
        for resource, namespace, obj in kube_seed.seed(now):
            obj["metadata"]["resourceVersion"] = self.next_resource_version()
            self.objects[resource, namespace, obj["metadata"]["name"]] = obj

    async def _serve_version(self, request: kmock.Request) -> Any:
        answer: Any = await super()._serve_version(request)  # a JSON object here, whatever kmock's union says
        # kmock names the core group "/v1" (kubectl then cannot find "pods" in
        # the core group and picks metrics.k8s.io's) and gives subresources
        # their parent's short names, which makes kubectl's name lookup ambiguous.
        answer["groupVersion"] = answer["groupVersion"].lstrip("/")
        for entry in answer["resources"]:
            if "/" in entry["name"]:
                subresource = entry["name"].split("/", 1)[1]
                entry.update(singularName="", shortNames=[], categories=[],
                             verbs=["get", "patch", "update"] if subresource == "status" else ["get"])
            else:
                entry["singularName"] = self.resources[kmock.resource(
                    answer["groupVersion"] + "/" + entry["name"])].singular or ""
        return answer

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        _CURRENT_REQUEST.set(None)  # keep-alive connections reuse one task (and context)
        try:
            namespace_path = _NAMESPACE_PATH.fullmatch(raw_request.path)
            if namespace_path:
                # kmock 0.8 cannot parse /api/v1/namespaces[/NAME] (it reads the
                # plural as "namespaces/<ns>" and fails), so serve them here.
                return await self._serve_namespaces(raw_request, namespace_path.group(1))
            return await super().__call__(raw_request)
        finally:
            self._forget()

    async def _serve_namespaces(self, raw_request: aiohttp.web.BaseRequest,
                                name: str | None) -> aiohttp.web.StreamResponse:
        if raw_request.method != "GET" or raw_request.query.get("watch") == "true":
            return _status(405, "MethodNotAllowed", "namespaces are read-only in the lab emulator")
        stored = {key[2]: obj.raw for key, obj in self.objects.items()
                  if key[0] == NAMESPACES and not obj.deleted}
        if name is None:
            return aiohttp.web.json_response({
                "apiVersion": "v1", "kind": "NamespaceList",
                "metadata": {"resourceVersion": str(self._resource_version)},
                "items": list(stored.values())})
        if name not in stored:
            return _status(404, "NotFound", f'namespaces "{name}" not found', name=name, kind="namespaces")
        return aiohttp.web.json_response(stored[name])

    async def _render_error(self, exc: Exception) -> aiohttp.web.StreamResponse:
        # kmock's messages address test authors and carry a traceback; clients
        # (and the findings built from them) should see what a real API says.
        request = _CURRENT_REQUEST.get()
        name = request.name if request is not None else None
        if name is None and request is not None and isinstance(request.data, dict):
            name = (request.data.get("metadata") or {}).get("name")
        plural = request.resource.plural if request is not None and request.resource is not None else None
        if isinstance(exc, kmock.KubernetesNotFoundError) and name and plural:
            return _status(404, "NotFound", f'{plural} "{name}" not found', name=name, kind=plural)
        if isinstance(exc, kmock.KubernetesError) and exc.status == 409 and name and plural:
            return _status(409, "AlreadyExists", f'{plural} "{name}" already exists', name=name, kind=plural)
        if isinstance(exc, kmock.KubernetesNotFoundError):
            return _status(404, "NotFound", "the server could not find the requested resource")
        if isinstance(exc, kmock.KubernetesError):
            return _status(exc.status, exc.reason or "Failure", exc.message or repr(exc))
        return _status(500, "InternalError", f"lab emulator error: {exc!r}")

    def _forget(self) -> None:
        # kmock records requests and errors for test assertions; a service must not.
        for error in self._errors[-1] if self._errors else []:
            if not isinstance(error, kmock.KubernetesError):
                LOG.warning("request failed: %r", error)
        if self._errors:
            self._errors[-1].clear()
        self._requests.clear()
        for reaction in self._payloads:
            reaction._requests.clear()
        for obj in self.objects.values():
            if len(obj.history) > HISTORY_KEEP:
                del obj.history[:-HISTORY_KEEP]

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        _CURRENT_REQUEST.set(request)  # for _render_error, which kmock calls without it
        if request.resource is not None and request.name is not None:
            if request.method == kmock.method.GET and request.resource == PODS and request.subresource == "log":
                return await self._serve_log(request)
            if request.method == kmock.method.PUT:
                return await self._serve_replace(request)
        if request.action == kmock.action.CREATE and isinstance(request.data, dict):
            self._fill_new_metadata(request)
        elif request.action == kmock.action.UPDATE and isinstance(request.data, dict):
            # A merge patch carrying the new resourceVersion bumps it as a side effect.
            metadata = request.data.setdefault("metadata", {}) or {}
            metadata["resourceVersion"] = self.next_resource_version()
        return await super()._handle(request)

    def _fill_new_metadata(self, request: kmock.Request) -> None:
        metadata = request.data.setdefault("metadata", {})
        if not metadata.get("name") and metadata.get("generateName"):
            metadata["name"] = metadata["generateName"] + uuid.uuid4().hex[:5]
        if request.namespace:
            metadata["namespace"] = request.namespace
        metadata.setdefault("uid", str(uuid.uuid4()))
        metadata.setdefault("creationTimestamp", kube_seed.iso(datetime.datetime.now(datetime.timezone.utc)))
        metadata["resourceVersion"] = self.next_resource_version()
        if request.resource == PODS:
            request.data.setdefault("status", {"phase": "Pending"})

    async def _serve_replace(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        if not isinstance(request.data, dict):
            return _status(400, "BadRequest", "body must be a JSON object")
        assert request.resource is not None and request.name is not None  # the route names both
        key = (request.resource, request.namespace, request.name)
        async with self._lock:
            if key not in self.objects or self.objects[key].deleted:
                raise kmock.KubernetesObjectNotFoundError()
            current = self.objects[key].raw
            if request.subresource == "status":
                new = dict(current, status=request.data.get("status", {}))
            else:
                new = dict(request.data)
                new.setdefault("status", current.get("status", {}))
            # Identity fields belong to the server, whatever the client sent.
            kept = {k: current["metadata"][k] for k in ("uid", "creationTimestamp", "namespace")
                    if k in current.get("metadata", {})}
            new["metadata"] = dict(new.get("metadata") or {}, name=request.name, **kept,
                                   resourceVersion=self.next_resource_version())
            self.objects[key].create(new)  # appends a version, like kmock's own patch does
            await self._buses[request.resource].put({"type": "MODIFIED", "object": new})
        return aiohttp.web.json_response(new)

    async def _serve_log(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        assert request.name is not None  # the route names the pod
        key = (PODS, request.namespace, request.name)
        async with self._lock:
            if key not in self.objects or self.objects[key].deleted:
                raise kmock.KubernetesObjectNotFoundError()
            pod = self.objects[key].raw
        containers = [c.get("name") for c in pod.get("spec", {}).get("containers", [])]
        container = request.params.get("container")
        if container and container not in containers:
            return _status(400, "BadRequest", f"container {container} is not valid for pod {request.name}")
        annotations = pod.get("metadata", {}).get("annotations") or {}
        if request.params.get("previous") == "true":
            text = annotations.get(kube_seed.PREVIOUS_LOG_ANNOTATION)
            if text is None:
                return _status(400, "BadRequest", f'previous terminated container '
                               f'"{container or containers[0]}" in pod "{request.name}" not found')
        else:
            text = annotations.get(kube_seed.LOG_ANNOTATION)
            if text is None:
                text = kube_seed.canned_log(request.name or "", datetime.datetime.now(datetime.timezone.utc))
        tail = request.params.get("tailLines")
        if tail is not None and tail.isdigit():
            lines = text.splitlines(keepends=True)
            text = "".join(lines[-int(tail):]) if int(tail) else ""
        return aiohttp.web.Response(text=text, content_type="text/plain")

    async def _serve_list(self, request: kmock.Request) -> Any:
        answer: Any = await super()._serve_list(request)  # likewise
        items = [item for item in answer["items"] if selected(item, request.params)]
        resource = request.resource
        assert resource is not None
        kind = self._kind(resource)
        if _wants_table(request):
            return kube_tables.to_table(kind, items, str(self._resource_version),
                                        request.params.get("includeObject") == "Object")
        return {
            # kmock omits kind/apiVersion; typed clients and kubectl want them.
            "apiVersion": f"{resource.group}/{resource.version}" if resource.group else resource.version,
            "kind": f"{kind}List",
            "metadata": {"resourceVersion": str(self._resource_version)},
            "items": items,
        }

    async def _serve_fetch(self, request: kmock.Request) -> Any:
        obj = await super()._serve_fetch(request)
        if _wants_table(request) and request.resource is not None:
            return kube_tables.to_table(self._kind(request.resource), [obj], str(self._resource_version),
                                        request.params.get("includeObject") == "Object")
        return obj

    def _kind(self, resource: kmock.resource) -> str:
        return self.resources[resource].kind or (resource.plural or "").capitalize()

    async def _serve_watch(self, request: kmock.Request) -> AsyncIterator[Any]:
        async for event in super()._serve_watch(request):
            # Non-dict items are kmock's header flush; events carry the object.
            if not isinstance(event, dict) or selected(event.get("object") or {}, request.params):
                yield event


def write_kubeconfig(state_dir: pathlib.Path, bind: str, port: int) -> pathlib.Path:
    host = f"[{bind}]" if ":" in bind else bind
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "irlab",
        "clusters": [{"name": "irlab", "cluster": {"server": f"http://{host}:{port}"}}],
        "users": [{"name": "irlab", "user": {}}],  # the emulator has no authentication
        "contexts": [{"name": "irlab", "context": {"cluster": "irlab", "user": "irlab",
                                                   "namespace": kube_seed.NAMESPACE}}],
    }
    path = state_dir / "kubeconfig"
    path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")  # JSON is valid YAML
    return path


async def serve(bind: str, port: int, state_dir: pathlib.Path) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    emulator = LabKubernetes()
    emulator.seed(datetime.datetime.now(datetime.timezone.utc))
    async with emulator:  # kmock renders errors as Kubernetes Status objects only when entered
        # Short shutdown timeout: open watch streams would otherwise hold SIGTERM for a minute.
        runner = aiohttp.web.ServerRunner(aiohttp.web.Server(emulator), shutdown_timeout=1.0)
        await runner.setup()
        site = aiohttp.web.TCPSite(runner, bind, port, backlog=512)
        await site.start()
        actual_port = runner.addresses[0][1]
        write_kubeconfig(state_dir, bind, actual_port)
        print(f"ready kube-emulator on {bind}:{actual_port}", file=sys.stderr, flush=True)
        await stop.wait()
        LOG.info("shutting down")
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bind", required=True)
    parser.add_argument("--port", type=int, default=6443)
    parser.add_argument("--state-dir", required=True, type=pathlib.Path)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    logging.getLogger("aiohttp.access").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    args.state_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(serve(args.bind, args.port, args.state_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
