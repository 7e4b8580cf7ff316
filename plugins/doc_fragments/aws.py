# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# The connection options every AWS module in this collection shares (the
# argument spec is plugins/module_utils/_aws.py aws_argument_spec()). Names
# and aliases follow amazon.aws, so tasks read the same with either collection.

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  region:
    description:
      - The AWS region, for example C(us-east-1).
      - When not set, the E(AWS_REGION) or E(AWS_DEFAULT_REGION) environment variable, then the region of
        O(profile) (or of the default profile) is used. With none of these, the module fails and says so.
    type: str
    aliases: [aws_region]
  profile:
    description:
      - A named profile from the shared AWS config and credentials files.
      - Mutually exclusive with O(access_key), O(secret_key) and O(session_token).
    type: str
    aliases: [aws_profile]
  endpoint_url:
    description:
      - Send every API call to this URL instead of the public AWS endpoint, for example a VPC interface
        endpoint or the lab's moto server (V(http://10.77.1.1:5000)).
      - When not set, boto3 honours E(AWS_ENDPOINT_URL) and the per-service E(AWS_ENDPOINT_URL_<SERVICE>).
    type: str
    aliases: [aws_endpoint_url]
  access_key:
    description:
      - The AWS access key id.
      - When not set, credentials come from the usual sources, in boto3's order, the environment
        (E(AWS_ACCESS_KEY_ID), E(AWS_SECRET_ACCESS_KEY), E(AWS_SESSION_TOKEN)), the shared credentials
        and config files (O(profile)), then a container or instance role.
    type: str
    aliases: [aws_access_key_id, aws_access_key]
  secret_key:
    description:
      - The AWS secret access key. Never logged, never part of a message.
    type: str
    aliases: [aws_secret_access_key, aws_secret_key]
  session_token:
    description:
      - The session token that comes with temporary credentials. Never logged, never part of a message.
    type: str
    aliases: [aws_session_token]
  validate_certs:
    description:
      - Verify the TLS certificate of the endpoint. Set E(AWS_CA_BUNDLE) to trust a private CA instead of
        turning this off.
    type: bool
    default: true
  retries:
    description:
      - How many times botocore retries a call after throttling or a transient error, with exponential
        backoff and jitter. A call that is still throttled after the last retry becomes an C(unknown)
        finding that says so.
    type: int
    default: 5
  retry_mode:
    description:
      - V(standard) retries with backoff; V(adaptive) also slows the client down while AWS throttles it,
        which helps when many checks share one account's API limits.
    type: str
    default: standard
    choices: [standard, adaptive]
  connect_timeout:
    description:
      - Seconds to wait for a connection to the endpoint.
    type: float
    default: 10
  read_timeout:
    description:
      - Seconds to wait for an answer once connected.
    type: float
    default: 60
requirements:
  - boto3 >= 1.34
  - botocore >= 1.34
notes:
  - The module belongs to the action group C(platform_eng.incident_response.aws), so
    C(module_defaults) for C(group/platform_eng.incident_response.aws) sets O(region), O(endpoint_url)
    or O(profile) once for every AWS module in a play.
  - Access denied, a missing resource and throttling that outlasts the retries become findings with a
    message naming the operation, the resource and the region; rejected or missing credentials fail the task,
    because nothing can be checked until they are fixed.
"""
