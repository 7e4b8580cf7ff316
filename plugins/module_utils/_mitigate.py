# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Mitigations from the runbook's resolutions, as guarded plans.

"Scale up database if CPU > 80 %": one step up an allow-listed ladder of
instance classes, never down, never more than one step without a reason;
then RDS modify (apply immediately) and wait until the instance is available
again.
"""

from __future__ import annotations

import math
import re
import time
import typing as t

try:
    from kubernetes import client as k8s_client
    from urllib3.exceptions import HTTPError as TransportError
except ImportError:  # reported by build_configuration() when the Kubernetes mitigation is used
    k8s_client = None  # type: ignore[assignment]
    TransportError = OSError  # type: ignore[misc,assignment]

from ansible_collections.platform_eng.incident_response.plugins.module_utils._aws import (
    AwsCallError,
    AwsSession,
    call,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    IncidentResponseError,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._k8s import (
    ApiException,
    build_configuration,
    describe_api_error,
)

# Each family's classes from small to large; a step is the next one in the same family.
DEFAULT_LADDERS: dict[str, list[str]] = {
    "db.t3": ["db.t3.micro", "db.t3.small", "db.t3.medium", "db.t3.large", "db.t3.xlarge", "db.t3.2xlarge"],
    "db.m5": ["db.m5.large", "db.m5.xlarge", "db.m5.2xlarge", "db.m5.4xlarge"],
    "db.r5": ["db.r5.large", "db.r5.xlarge", "db.r5.2xlarge", "db.r5.4xlarge"],
}


class ScalePlan(t.NamedTuple):
    current: str
    target: str
    steps: int


def plan_scale_up(current: str, target: str = "", reason: str = "",
                  ladders: t.Mapping[str, t.Sequence[str]] | None = None) -> ScalePlan:
    """The class to move to, or IncidentResponseError saying why not."""
    ladders = ladders or DEFAULT_LADDERS
    ladder = next((list(classes) for classes in ladders.values() if current in classes), None)
    if ladder is None:
        raise IncidentResponseError(f"the current class {current} is not on any allowed ladder "
                                    f"({', '.join(sorted(ladders))}); scale it by hand")
    here = ladder.index(current)
    if not target:
        if here + 1 >= len(ladder):
            raise IncidentResponseError(f"{current} is the largest allowed class of its family; scale it by hand")
        return ScalePlan(current, ladder[here + 1], 1)
    if target not in ladder:
        raise IncidentResponseError(f"{target} is not an allowed class for {current} (allowed: {', '.join(ladder)})")
    steps = ladder.index(target) - here
    if steps <= 0:
        raise IncidentResponseError(f"{target} is not larger than {current}: this mitigation never scales down")
    if steps > 1 and not reason:
        raise IncidentResponseError(f"{current} -> {target} is {steps} steps; more than one step needs a reason")
    return ScalePlan(current, target, steps)


def describe_class(session: AwsSession, instance: str) -> dict[str, t.Any]:
    try:
        found = call(session, "rds", "describe_db_instances", "describe the DB instance", instance,
                     "rds:DescribeDBInstances", DBInstanceIdentifier=instance)["DBInstances"]
    except AwsCallError as exc:
        raise IncidentResponseError(f"Failed to describe DB instance {instance} in {session.region}: "
                                    f"{exc.problem.message}") from None
    if not found:
        raise IncidentResponseError(f"no DB instance {instance} in {session.region}")
    return found[0]


def scale_up(session: AwsSession, instance: str, target: str, reason: str, check_mode: bool,
             wait_seconds: int = 900, ladders: t.Mapping[str, t.Sequence[str]] | None = None,
             sleep: t.Callable[[float], None] = time.sleep) -> dict[str, t.Any]:
    db = describe_class(session, instance)
    plan = plan_scale_up(db["DBInstanceClass"], target, reason, ladders)
    result = {"instance": instance, "from_class": plan.current, "to_class": plan.target, "steps": plan.steps,
              "changed": True, "status": db.get("DBInstanceStatus", "")}
    if db.get("DBInstanceStatus") != "available":
        raise IncidentResponseError(f"DB instance {instance} is {db.get('DBInstanceStatus')!r}, not available; "
                                    "wait for it before scaling")
    if check_mode:
        return result
    try:
        call(session, "rds", "modify_db_instance", "modify the DB instance class", instance, "rds:ModifyDBInstance",
             DBInstanceIdentifier=instance, DBInstanceClass=plan.target, ApplyImmediately=True)
    except AwsCallError as exc:
        raise IncidentResponseError(f"Failed to modify DB instance {instance} to {plan.target}: "
                                    f"{exc.problem.message}") from None
    waited = 0.0
    while True:
        db = describe_class(session, instance)
        if db.get("DBInstanceStatus") == "available" and db.get("DBInstanceClass") == plan.target:
            break
        if waited >= wait_seconds:
            raise IncidentResponseError(f"DB instance {instance} not available as {plan.target} after "
                                        f"{wait_seconds} s (status {db.get('DBInstanceStatus')})")
        sleep(5)
        waited += 5
    result.update(status=db["DBInstanceStatus"], waited_seconds=waited)
    return result


# --- "Increase memory limit as temporary fix" (runbook: Memory Leak) ----------------------------------------------

_UNITS = {"Ki": 1024, "Mi": 1024 ** 2, "Gi": 1024 ** 3, "Ti": 1024 ** 4, "K": 1000, "M": 1000 ** 2, "G": 1000 ** 3,
          "T": 1000 ** 4, "": 1}


def parse_memory(quantity: str) -> int:
    """A Kubernetes memory quantity (``512Mi``, ``1Gi``, ``1G``, ``1048576``) in bytes."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|K|M|G|T)?", str(quantity).strip())
    if not match:
        raise IncidentResponseError(f"{quantity!r} is not a memory quantity this mitigation understands")
    return int(float(match.group(1)) * _UNITS[match.group(2) or ""])


def plan_memory_limit(current: str | None, factor: float, max_factor: float = 2.0) -> tuple[str, str]:
    """(current, new) limit: the current one times factor, rounded up to a whole Mi; bounded by max_factor."""
    if not current:
        raise IncidentResponseError("the container has no memory limit to raise; set one deliberately")
    if not 1.0 < factor <= max_factor:
        raise IncidentResponseError(f"factor {factor} is outside (1, {max_factor}]: a temporary fix raises the "
                                    "limit, and by a bounded amount")
    new_mi = math.ceil(parse_memory(current) * factor / _UNITS["Mi"])
    return current, f"{new_mi}Mi"


def apps_api(params: t.Mapping[str, t.Any]) -> t.Any:
    """An AppsV1Api client from the shared Kubernetes connection options."""
    configuration = build_configuration(params)
    return k8s_client.AppsV1Api(k8s_client.ApiClient(configuration))


def raise_memory_limit(apps: t.Any, namespace: str, name: str, container: str, factor: float, max_factor: float,
                       check_mode: bool) -> dict[str, t.Any]:
    """Raise one container's memory limit in a Deployment (apps/v1), by reading and replacing it."""
    try:
        deployment = apps.read_namespaced_deployment(name, namespace)
    except (ApiException, OSError, TransportError) as exc:
        raise IncidentResponseError(f"cannot read Deployment {namespace}/{name}: {describe_api_error(exc)}") from None
    body = deployment.to_dict() if hasattr(deployment, "to_dict") else dict(deployment)
    containers = body["spec"]["template"]["spec"]["containers"]
    chosen = next((c for c in containers if c["name"] == container), None) if container else containers[0]
    if chosen is None:
        raise IncidentResponseError(f"Deployment {namespace}/{name} has no container {container!r} "
                                    f"(it has {', '.join(c['name'] for c in containers)})")
    limits = ((chosen.get("resources") or {}).get("limits") or {})
    before, after = plan_memory_limit(limits.get("memory"), factor, max_factor)
    result = {"changed": True, "deployment": f"{namespace}/{name}", "container": chosen["name"],
              "from_limit": before, "to_limit": after}
    if not check_mode:
        deployment.spec.template.spec.containers[containers.index(chosen)].resources.limits["memory"] = after
        try:
            apps.replace_namespaced_deployment(name, namespace, deployment)
        except (ApiException, OSError, TransportError) as exc:
            raise IncidentResponseError(f"cannot update Deployment {namespace}/{name}: "
                                        f"{describe_api_error(exc)}") from None
    return result
