#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: redis_health_info
short_description: Judge a Redis cache's hit rate, evictions, memory and clients
version_added: 0.1.0
description:
  - Runs the runbook's "check cache hit rate" step and judges what it finds.
  - Reads C(INFO) twice, O(window_seconds) apart, and reports the hit rate over that window (what the cache does
    now) next to the hit rate since the server started or its statistics were last reset (what it did on average).
  - Also reports evicted keys, used memory against C(maxmemory), connected clients against C(maxclients),
    connections rejected in the window, and clients blocked in blocking commands.
  - Every check becomes a finding (name, target, status V(ok), V(warn), V(critical) or V(unknown), value,
    threshold, unit, evidence, remediation). A server that cannot be reached or refuses the credentials is a
    V(critical) C(connection) finding, not a module failure. Only O(fail_on) turns a verdict into a task failure.
  - Read-only; C(INFO) changes nothing on the server.
author:
  - Platform Engineering Team (@platform-eng)
extends_documentation_fragment:
  - platform_eng.incident_response.attributes
  - platform_eng.incident_response.attributes.info_module
  - platform_eng.incident_response.attributes.idempotent_not_modify_state
  - platform_eng.incident_response.redis
  - platform_eng.incident_response.fail_on
options:
  window_seconds:
    description:
      - Seconds between the two C(INFO) samples. V(0) reads C(INFO) once and judges the counters since start only.
    type: float
    default: 5
  hit_rate_warn_percent:
    description: Hit rate (hits over hits plus misses) below which a hit-rate finding is V(warn).
    type: float
    default: 80
  hit_rate_critical_percent:
    description: Hit rate below which a hit-rate finding is V(critical).
    type: float
    default: 50
  hit_rate_min_lookups:
    description:
      - Fewer lookups than this are too few to judge a hit rate; the finding is then V(ok) and says so.
    type: int
    default: 100
  evictions_warn:
    description:
      - Evicted keys (in the window, or since start when O(window_seconds=0)) above which C(evictions) is V(warn).
    type: int
    default: 0
  evictions_critical:
    description: Evicted keys above which C(evictions) is V(critical); unset means never.
    type: int
  memory_warn_percent:
    description: Used memory as a share of C(maxmemory) above which C(memory) is V(warn).
    type: float
    default: 80
  memory_critical_percent:
    description: Used memory as a share of C(maxmemory) above which C(memory) is V(critical).
    type: float
    default: 95
  clients_warn_percent:
    description: Connected clients as a share of C(maxclients) above which C(connected_clients) is V(warn).
    type: float
    default: 80
  clients_critical_percent:
    description:
      - Connected clients as a share of C(maxclients) above which C(connected_clients) is V(critical).
      - Any connection rejected during the window makes it V(critical) too.
    type: float
    default: 95
  blocked_clients_warn:
    description: Blocked clients above which C(blocked_clients) is V(warn); a cache-only Redis has none.
    type: int
    default: 0
  blocked_clients_critical:
    description: Blocked clients above which C(blocked_clients) is V(critical); unset means never.
    type: int
notes:
  - A restart between the two samples makes the window findings V(unknown); run the check again.
  - The statistics are server-wide, whatever O(db) is; C(CONFIG RESETSTAT) resets the counters "since start".
  - The module's own connection counts in C(connected_clients).
  - ElastiCache disables C(CONFIG); the module needs only C(INFO).
seealso:
  - name: Redis INFO
    description: The fields the findings are computed from.
    link: https://redis.io/docs/latest/commands/info/
"""

EXAMPLES = r"""
# The cache sits on the private network: run the check on the bastion.
- name: Check the cache hit rate over ten seconds
  platform_eng.incident_response.redis_health_info:
    host: 10.77.2.250
    password: "{{ vault_redis_password }}"
    window_seconds: 10
  delegate_to: bastion
  run_once: true
  register: cache_health

- name: Show the hit rate now and since start
  ansible.builtin.debug:
    msg: "now {{ cache_health.window.hit_rate }} %, since start {{ cache_health.since_start.hit_rate }} %"

# ElastiCache with in-transit encryption and an RBAC user; fail on a critical verdict.
- name: Gate on the production cache
  platform_eng.incident_response.redis_health_info:
    host: master.incident-response.abc123.use1.cache.amazonaws.com
    username: incident-response
    password: "{{ vault_redis_auth_token }}"
    tls: true
    ca_path: /etc/ssl/certs/ca-certificates.crt
    hit_rate_warn_percent: 90
    fail_on: critical
  delegate_to: bastion
  run_once: true
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
  sample: {"ok": 5, "unknown": 0, "warn": 0, "critical": 2}
findings:
  description:
    - One finding per check, in this order; when the server cannot be reached, only C(connection).
    - Names are C(connection), C(cache_hit_rate) (over the window, absent when O(window_seconds=0)),
      C(cache_hit_rate_since_start), C(evictions), C(memory), C(connected_clients) and C(blocked_clients).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The check.
      type: str
      sample: cache_hit_rate
    target:
      description: The server, C(host:port).
      type: str
      sample: 10.77.2.250:6379
    status:
      description: V(ok), V(warn), V(critical) or V(unknown) (could not measure).
      type: str
      sample: critical
    value:
      description: What was measured, in RV(findings[].unit); the server version for C(connection).
      type: raw
      sample: 12.5
    threshold:
      description: What the value was compared with, C({warn, critical}); lower is worse for hit rates.
      type: raw
      sample: {"warn": 80.0, "critical": 50.0}
    unit:
      description: Unit of the value.
      type: str
      sample: "%"
    evidence:
      description: What the verdict rests on, in one line.
      type: str
      sample: "25 hits and 175 misses in the last 5 s: hit rate 12.5 %"
    remediation:
      description: The runbook's advice when the status is V(warn) or V(critical), else null.
      type: str
      sample: "Runbook 'High Latency': check cache hit rate, warm cache if needed. ..."
server:
  description: What the server says about itself; null when it could not be reached.
  returned: always
  type: dict
  sample: {"version": "7.0.15", "mode": "standalone", "role": "master", "uptime_seconds": 86400}
window:
  description: Counter increases between the two samples; null when O(window_seconds=0) or unreachable.
  returned: always
  type: dict
  sample: {"seconds": 5.002, "restarted": false, "hits": 25, "misses": 175, "hit_rate": 12.5,
           "evicted_keys": 0, "rejected_connections": 0}
  contains:
    seconds:
      description: Seconds between the samples.
      type: float
      sample: 5.002
    restarted:
      description: Whether the server restarted between the samples; the counts are null then.
      type: bool
      sample: false
    hits:
      description: Key lookups that found the key.
      type: int
      sample: 25
    misses:
      description: Key lookups that did not.
      type: int
      sample: 175
    hit_rate:
      description: Hits as a share of lookups in percent; null without lookups.
      type: float
      sample: 12.5
    evicted_keys:
      description: Keys evicted to stay under C(maxmemory).
      type: int
      sample: 0
    rejected_connections:
      description: Connections refused because of C(maxclients).
      type: int
      sample: 0
since_start:
  description: The counters since start (or C(CONFIG RESETSTAT)); null when unreachable.
  returned: always
  type: dict
  sample: {"hits": 91000, "misses": 9000, "hit_rate": 91.0, "evicted_keys": 0, "expired_keys": 1200,
           "rejected_connections": 0}
memory:
  description: Used memory against C(maxmemory); null when unreachable.
  returned: always
  type: dict
  sample: {"used_bytes": 1088152, "maxmemory_bytes": 67108864, "policy": "allkeys-lru", "percent": 1.62}
clients:
  description: Connected and blocked clients against C(maxclients); null when unreachable.
  returned: always
  type: dict
  sample: {"connected": 9, "blocked": 0, "maxclients": 10000, "percent": 0.09}
keyspace:
  description: Keys and keys with an expiry per database, as C(INFO keyspace) reports them.
  returned: always
  type: dict
  sample: {"db0": {"keys": 120, "expires": 118, "avg_ttl": 4200}}
elapsed_ms:
  description: Wall time of the whole check in milliseconds, the window included.
  returned: always
  type: float
  sample: 5012.3
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.platform_eng.incident_response.plugins.module_utils._redis_health import (
    REDIS_IMPORT_ERROR,
    check_redis_health,
    redis_argument_spec,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._verdict import (
    fail_on_argument_spec,
    run_check,
)


def argument_spec() -> dict:
    spec = redis_argument_spec()
    spec.update(
        window_seconds=dict(type="float", default=5.0),
        hit_rate_warn_percent=dict(type="float", default=80.0),
        hit_rate_critical_percent=dict(type="float", default=50.0),
        hit_rate_min_lookups=dict(type="int", default=100),
        evictions_warn=dict(type="int", default=0),
        evictions_critical=dict(type="int"),
        memory_warn_percent=dict(type="float", default=80.0),
        memory_critical_percent=dict(type="float", default=95.0),
        clients_warn_percent=dict(type="float", default=80.0),
        clients_critical_percent=dict(type="float", default=95.0),
        blocked_clients_warn=dict(type="int", default=0),
        blocked_clients_critical=dict(type="int"),
        **fail_on_argument_spec(),
    )
    return spec


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run_check(module, check_redis_health, "Redis health", libraries=[("redis", REDIS_IMPORT_ERROR)])


if __name__ == "__main__":
    main()
