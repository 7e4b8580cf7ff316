# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# The Redis connection options every module shares; the argument spec they
# document is redis_argument_spec() in module_utils/_redis_health.py.

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  host:
    description:
      - Host name or IP address of the Redis server, for example V(10.77.2.250) in the lab, or an ElastiCache
        primary endpoint.
      - The module connects from the host it runs on; use C(delegate_to) a host on the cache network (the bastion).
    type: str
    required: true
  port:
    description: TCP port of the server.
    type: int
    default: 6379
  username:
    description: ACL user name (Redis 6 and later, ElastiCache RBAC). Leave it out for the C(default) user.
    type: str
  password:
    description: Password (C(requirepass) or the ACL user's password, the ElastiCache auth token). Never logged.
    type: str
  db:
    description: Database number to select; the statistics read are server-wide.
    type: int
    default: 0
  tls:
    description: Connect with TLS (ElastiCache in-transit encryption).
    type: bool
    default: false
  ca_path:
    description: File with the CA certificates that sign the server certificate, when O(tls=true).
    type: path
  validate_certs:
    description:
      - Whether to verify the server certificate and host name when O(tls=true).
      - Set to V(false) only for a short test against a server with a self-signed certificate.
    type: bool
    default: true
  connect_timeout:
    description:
      - Seconds to wait for the connection and for each answer; an unreachable server becomes a V(critical) finding
        after this long.
    type: float
    default: 5
requirements:
  - redis (redis-py) on the host the module runs on.
"""
