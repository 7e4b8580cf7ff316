#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: service_start_info
short_description: Find why the service won't start on an app host
version_added: 0.1.0
description:
  - Checks the runbook's "Service Won't Start" common causes on the host the module runs on, one finding each.
  - C(required_env) - Missing environment variables. Reads the service's env file (C(KEY=VALUE) lines, as the
    service's control script does) and/or the module's process environment, and reports the required names that
    are missing or empty. Only names are ever returned, never a value; a line that is not C(KEY=VALUE) is reported
    by its line number only (C(env_file)).
  - C(service_port) - Port already in use. Finds what listens on the service port (O(port), else C(API_PORT)) with
    its pid and process name, and compares it with the pid in O(pid_file). A port held by another process is
    V(critical). A port held by the service itself is V(ok) with O(expect_running=true) and V(warn) otherwise (a
    second start would fail to bind).
  - C(dependency_reachable) - Database connection failure. Opens a TCP connection to the database
    (C(DB_HOST):C(DB_PORT)) and the cache (C(REDIS_HOST):C(REDIS_PORT)), or to O(dependencies), all at once.
  - C(path_access) - Insufficient permissions. Works out from mode bits and ownership whether O(service_user) can
    read, write or execute each of O(paths), including search permission on every directory above it.
  - Read-only. Every problem is a finding; only O(fail_on) turns a verdict into a task failure.
author:
  - Platform Engineering Team (@platform-eng)
extends_documentation_fragment:
  - platform_eng.incident_response.attributes
  - platform_eng.incident_response.attributes.info_module
  - platform_eng.incident_response.attributes.idempotent_not_modify_state
  - platform_eng.incident_response.fail_on
options:
  env_file:
    description: The service's env file, C(KEY=VALUE) lines; blank lines and lines starting with C(#) are skipped.
    type: path
    default: /etc/incident-response/env
  env_sources:
    description:
      - Where the service's environment comes from. V(file) reads O(env_file); V(process) takes the environment
        the module runs with. With both, the file wins, as when the control script exports it.
    type: list
    elements: str
    choices: [file, process]
    default: [file]
  required_env:
    description:
      - Names that must be set and not empty. The default is the C(DB_), C(REDIS_) and C(API_) variables the
        runbook greps for.
    type: list
    elements: str
    default: [API_PORT, DB_HOST, DB_PORT, DB_NAME, DB_USER, DB_PASSWORD, REDIS_HOST, REDIS_PORT, REDIS_PASSWORD]
  port:
    description: The port the service listens on. Defaults to C(API_PORT) from the environment.
    type: int
  pid_file:
    description: The service's pid file; a listener with this pid (or a child of it) is the service itself.
    type: path
    default: /var/lib/incident-response/service.pid
  expect_running:
    description:
      - Whether the service should be running. With V(true), nothing listening on the port is V(critical) and the
        service holding it is V(ok). With V(false) (diagnosing a service that does not start), a free port is
        V(ok) and the service holding it is V(warn).
    type: bool
    default: false
  dependencies:
    description:
      - TCP endpoints the service needs at start. Defaults to the database (C(DB_HOST), C(DB_PORT) or 5432) and the
        cache (C(REDIS_HOST), C(REDIS_PORT) or 6379) from the environment.
    type: list
    elements: dict
    suboptions:
      name:
        description: Name used in the finding's target.
        type: str
        required: true
      host:
        description: Host name or address.
        type: str
        required: true
      port:
        description: TCP port.
        type: int
        required: true
  connect_timeout:
    description: Seconds to wait for each TCP connection to a dependency.
    type: float
    default: 3
  paths:
    description:
      - Paths the service needs, with the access it needs.
      - Defaults to O(env_file) (V(r)), the directory of O(pid_file) (V(w)), C(/var/log/incident-response) (V(w))
        and C(/opt/incident-response/current/bin/service) (V(x)).
      - A missing path is V(critical), except a path to write that O(service_user) may create (V(warn)).
    type: list
    elements: dict
    suboptions:
      path:
        description: Absolute path; symbolic links are followed.
        type: path
        required: true
      mode:
        description: The access needed, letters from V(r), V(w) and V(x), for example V(rw).
        type: str
        default: r
      owner:
        description: The expected owner's user name; another owner is V(warn).
        type: str
  service_user:
    description:
      - The user the service runs as, whose access to O(paths) is judged. Defaults to the user the module runs as.
    type: str
notes:
  - Linux only. Listening sockets are read from C(/proc/net/tcp) and C(/proc/net/tcp6) of the network namespace the
    module runs in, so run it on the app host itself, not delegated. Without root, the pid of a process owned by
    another user may be unknown.
  - Host names and ports of the dependencies appear in finding targets; no other environment value is returned.
  - Permissions are judged from mode bits and ownership; POSIX ACLs, SELinux and AppArmor are not evaluated.
seealso:
  - module: platform_eng.incident_response.http_health_info
    description: Whether the running service answers its health check.
"""

EXAMPLES = r"""
# Runs on each app host: the env file, the port and the permissions are local to it.
- name: Find why the service won't start
  platform_eng.incident_response.service_start_info:
  register: start_check

- name: Show the causes found
  ansible.builtin.debug:
    msg: "{{ start_check.findings | selectattr('status', 'equalto', 'critical') | map(attribute='evidence') | list }}"

# After a deploy the service must be up: the port must be held by the service itself.
- name: Check a running service's prerequisites and fail on a critical cause
  platform_eng.incident_response.service_start_info:
    expect_running: true
    service_user: incident-response
    paths:
      - path: /etc/incident-response/env
        mode: r
        owner: root
      - path: /var/lib/incident-response
        mode: w
      - path: /var/log/incident-response
        mode: w
      - path: /opt/incident-response/current/bin/service
        mode: x
    fail_on: critical

# A service with other names and dependencies.
- name: Check a worker that reads its settings from the environment
  platform_eng.incident_response.service_start_info:
    env_sources: [process]
    required_env: [QUEUE_URL, DB_HOST]
    port: 9100
    dependencies:
      - name: database
        host: 10.77.2.250
        port: 5432
    paths: []
"""

RETURN = r"""
status:
  description: The worst status of all findings (V(critical) > V(warn) > V(unknown) > V(ok)).
  returned: always
  type: str
  sample: critical
counts:
  description: How many findings have each status.
  returned: always
  type: dict
  sample: {"ok": 6, "unknown": 0, "warn": 0, "critical": 2}
findings:
  description:
    - The findings in this order; C(env_file) only when V(file) is in O(env_sources), one C(dependency_reachable)
      per dependency and one C(path_access) per path.
    - Names are C(env_file), C(required_env), C(service_port), C(dependency_reachable) and C(path_access).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The check.
      type: str
      sample: required_env
    target:
      description:
        - The host name; C(host -> dependency host:port) for C(dependency_reachable), C(host:path) for C(path_access).
      type: str
      sample: app1
    status:
      description: V(ok), V(warn), V(critical) or V(unknown) (could not check).
      type: str
      sample: critical
    value:
      description:
        - The missing or empty names for C(required_env), the port for C(service_port), the connect time in ms
          for C(dependency_reachable), the current mode for C(path_access), the file for C(env_file).
      type: raw
      sample: ["DB_PASSWORD"]
    threshold:
      description: The required names for C(required_env), the access wanted for C(path_access), else null.
      type: raw
      sample: ["API_PORT", "DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD", "REDIS_HOST", "REDIS_PORT",
               "REDIS_PASSWORD"]
    unit:
      description: Unit of the value, if any.
      type: str
      sample: ms
    evidence:
      description: What the verdict rests on, in one line; never an environment value.
      type: str
      sample: "missing: DB_PASSWORD (in /etc/incident-response/env; 8 of 9 present)"
    remediation:
      description: The runbook's common cause and what to do, when the status is V(warn) or V(critical); else null.
      type: str
      sample: "Runbook 'Service Won't Start', common cause 'Missing environment variables': ..."
env:
  description: Names only - what is present, missing and empty.
  returned: always
  type: dict
  sample: {"sources": ["file"], "env_file": "/etc/incident-response/env", "required": ["API_PORT", "DB_PASSWORD"],
           "present": ["API_PORT"], "missing": ["DB_PASSWORD"], "empty": [], "bad_lines": []}
  contains:
    sources:
      description: O(env_sources).
      type: list
      elements: str
      sample: [file]
    env_file:
      description: The env file read, null when V(file) is not a source.
      type: str
      sample: /etc/incident-response/env
    required:
      description: O(required_env).
      type: list
      elements: str
      sample: [API_PORT, DB_PASSWORD]
    present:
      description: Required names that are set and not empty.
      type: list
      elements: str
      sample: [API_PORT]
    missing:
      description: Required names that are not set.
      type: list
      elements: str
      sample: [DB_PASSWORD]
    empty:
      description: Required names set to an empty value.
      type: list
      elements: str
      sample: []
    bad_lines:
      description: Line numbers of O(env_file) that are not C(KEY=VALUE).
      type: list
      elements: int
      sample: []
port:
  description: The service port and who holds it.
  returned: always
  type: dict
  sample: {"port": 8080, "in_use": true, "service_pid": null, "held_by_service": false,
           "listeners": [{"address": "0.0.0.0", "port": 8080, "inode": 97340, "pid": 4242, "process": "python3"}]}
  contains:
    port:
      description: The port checked; null when neither O(port) nor C(API_PORT) gave one.
      type: int
      sample: 8080
    in_use:
      description: Whether anything listens on it.
      type: bool
      sample: true
    service_pid:
      description: The live pid in O(pid_file), else null.
      type: int
      sample: 4242
    held_by_service:
      description: Whether every listener is the service or a child of it.
      type: bool
      sample: false
    listeners:
      description: Listening sockets on the port, with C(address), C(port), C(inode), C(pid) and C(process) (null when unknown).
      type: list
      elements: dict
      sample: [{"address": "0.0.0.0", "port": 8080, "inode": 97340, "pid": 4242, "process": "python3"}]
dependencies:
  description: One entry per dependency.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "database", "host": "10.77.2.250", "port": 5432, "reachable": true, "connect_ms": 0.4,
            "error": null}]
  contains:
    name:
      description: The dependency.
      type: str
      sample: database
    host:
      description: Host connected to.
      type: str
      sample: 10.77.2.250
    port:
      description: Port connected to.
      type: int
      sample: 5432
    reachable:
      description: Whether the TCP connection was established; null when it was not tried.
      type: bool
      sample: true
    connect_ms:
      description: Time to connect in milliseconds.
      type: float
      sample: 0.4
    error:
      description: Why it failed or was not tried.
      type: str
      sample: "ConnectionRefusedError: [Errno 111] Connection refused"
paths:
  description: One entry per path checked.
  returned: always
  type: list
  elements: dict
  sample: [{"path": "/var/lib/incident-response", "want": "w", "owner_expected": null, "exists": true,
            "owner": "root", "group": "root", "mode": "0755",
            "evidence": "root can write /var/lib/incident-response (mode 0755, owner root:root)"}]
  contains:
    path:
      description: The path as given.
      type: str
      sample: /var/lib/incident-response
    want:
      description: The access needed.
      type: str
      sample: w
    owner_expected:
      description: The expected owner, if given.
      type: str
      sample: null
    exists:
      description: Whether the path exists.
      type: bool
      sample: true
    owner:
      description: Its owner.
      type: str
      sample: root
    group:
      description: Its group.
      type: str
      sample: root
    mode:
      description: Its permission bits in octal.
      type: str
      sample: "0755"
    evidence:
      description: The verdict in words.
      type: str
      sample: root can write /var/lib/incident-response (mode 0755, owner root:root)
service_user:
  description: The user whose access was judged.
  returned: always
  type: str
  sample: root
elapsed_ms:
  description: Wall time of the whole check in milliseconds.
  returned: always
  type: float
  sample: 12.5
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.platform_eng.incident_response.plugins.module_utils._service_start import (
    DEFAULT_ENV_FILE,
    DEFAULT_PID_FILE,
    DEFAULT_REQUIRED_ENV,
    check_service_start,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._verdict import (
    fail_on_argument_spec,
    run_check,
)

ARGUMENT_SPEC = dict(
    env_file=dict(type="path", default=DEFAULT_ENV_FILE),
    env_sources=dict(type="list", elements="str", choices=["file", "process"], default=["file"]),
    required_env=dict(type="list", elements="str", default=list(DEFAULT_REQUIRED_ENV)),
    port=dict(type="int"),
    pid_file=dict(type="path", default=DEFAULT_PID_FILE),
    expect_running=dict(type="bool", default=False),
    dependencies=dict(type="list", elements="dict", options=dict(
        name=dict(type="str", required=True),
        host=dict(type="str", required=True),
        port=dict(type="int", required=True),
    )),
    connect_timeout=dict(type="float", default=3.0),
    paths=dict(type="list", elements="dict", options=dict(
        path=dict(type="path", required=True),
        mode=dict(type="str", default="r"),
        owner=dict(type="str"),
    )),
    service_user=dict(type="str"),
    **fail_on_argument_spec(),
)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_check(module, check_service_start, "Service start check")


if __name__ == "__main__":
    main()
