# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# The Kubernetes connection options, documented once for every module that
# merges in module_utils._k8s.connection_argument_spec(). Names, aliases and
# environment variables follow kubernetes.core, so an inventory written for
# kubernetes.core works here unchanged.

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  host:
    description:
      - The Kubernetes API server URL, for example V(https://k8s.example.com:6443). Without a scheme, C(https://) is
        assumed, as C(kubectl --server) does.
      - When set, it is used as is and a kubeconfig is read only if O(kubeconfig) or O(context) is also set.
      - When neither O(host) nor O(kubeconfig) is set, C(~/.kube/config) (or E(KUBECONFIG)) is used, and failing that
        the in-cluster service account.
      - Can also be set with E(K8S_AUTH_HOST).
    type: str
  api_key:
    description:
      - A bearer token for the API server. Never logged.
      - Can also be set with E(K8S_AUTH_API_KEY).
    type: str
  kubeconfig:
    description:
      - Path to a kubeconfig file. Options set explicitly (O(host), O(api_key), O(validate_certs), O(ca_cert)) override
        what it says.
      - Can also be set with E(K8S_AUTH_KUBECONFIG).
    type: path
  context:
    description:
      - The kubeconfig context to use. Defaults to the kubeconfig's current context.
      - Can also be set with E(K8S_AUTH_CONTEXT).
    type: str
  validate_certs:
    description:
      - Whether to verify the API server's TLS certificate. Defaults to the kubeconfig's setting, else V(true).
      - Can also be set with E(K8S_AUTH_VERIFY_SSL).
    type: bool
    aliases: [verify_ssl]
  ca_cert:
    description:
      - Path to a CA bundle that signs the API server's certificate.
      - Can also be set with E(K8S_AUTH_SSL_CA_CERT).
    type: path
    aliases: [ssl_ca_cert]
requirements:
  - kubernetes (the official Python client)
"""
