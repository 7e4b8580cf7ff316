# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: service_endpoints
short_description: The endpoints http_health_info probes on each app host, from the runbook's list of paths
version_added: 0.2.0
description:
  - Builds the O(platform_eng.incident_response.http_health_info#module:endpoints) list for the service's hosts from
    one source, the runbook's endpoints (C(incident_response_endpoints), its C(health), C(metrics) and C(docs)
    paths), so every health check probes every endpoint.
  - The C(health) path is the health check proper, named after the host, with O(health_assertions) on its JSON body
    and, when O(metrics) is true, the C(metrics) path as its C(metrics_url) for the 5xx ratio and P95 window.
  - Every other path is probed once as an optional endpoint (C(required=false)), named C(<host> <path>); a missing
    C(/docs) or C(/metrics) is a V(warn) finding that names the path, never an outage.
author:
  - Platform Engineering Team (@platform-eng)
options:
  _input:
    description: The inventory names of the app hosts.
    type: list
    elements: str
    required: true
  hostvars:
    description: The play's C(hostvars); each host is reached at its C(ansible_host), else at its name.
    type: dict
    required: true
  port:
    description: The service's port.
    type: int
    required: true
  paths:
    description: Endpoint name to path; C(health) is required.
    type: dict
    required: true
  metrics:
    description: Read the C(metrics) path around the probes of the health endpoint (the module's C(metrics_window)).
    type: bool
    default: false
  health_assertions:
    description: Assertions on the health endpoint's JSON body.
    type: list
    elements: str
    default: ['status == "ok"']
"""

EXAMPLES = r"""
- name: Probe /health, /metrics and /docs on every app host from the bastion
  platform_eng.incident_response.http_health_info:
    endpoints: >-
      {{ groups['app_servers'] | platform_eng.incident_response.service_endpoints(hostvars=hostvars,
         port=incident_response_app_port, paths=incident_response_endpoints, metrics=true) }}
    metrics_window: 10
  delegate_to: "{{ groups['bastions'][0] }}"
  run_once: true
"""

RETURN = r"""
_value:
  description: The endpoints, the health endpoint of each host first, then its optional paths in the order given.
  type: list
  elements: dict
"""

import typing as t

from ansible.errors import AnsibleFilterError

HEALTH_ASSERTIONS = ('status == "ok"',)


def _path(name: str, value: t.Any) -> str:
    path = str(value or "")
    if not path.startswith("/"):
        raise AnsibleFilterError(f"service_endpoints: the {name} path must start with '/', got {value!r}")
    return path


def service_endpoints(hosts: t.Sequence[str], hostvars: t.Mapping[str, t.Any], port: int | str,
                      paths: t.Mapping[str, t.Any], metrics: bool = False,
                      health_assertions: t.Sequence[str] = HEALTH_ASSERTIONS) -> list[dict[str, t.Any]]:
    if "health" not in (paths or {}):
        raise AnsibleFilterError(f"service_endpoints: paths needs a health path, got {sorted(paths or {})}")
    if metrics and "metrics" not in paths:
        raise AnsibleFilterError("service_endpoints: metrics=true needs a metrics path")
    checked = {name: _path(name, value) for name, value in paths.items()}
    endpoints = []
    for host in hosts:
        address = (hostvars.get(host) or {}).get("ansible_host") or host
        base = f"http://{address}:{int(port)}"
        health: dict[str, t.Any] = {"name": host, "url": base + checked["health"],
                                    "json_assertions": list(health_assertions)}
        if metrics:
            health["metrics_url"] = base + checked["metrics"]
        endpoints.append(health)
        for name, path in checked.items():
            if name != "health":
                endpoints.append({"name": f"{host} {path}", "url": base + path, "required": False, "samples": 1,
                                  "json_assertions": []})
    return endpoints


class FilterModule:
    def filters(self):
        return {"service_endpoints": service_endpoints}
