#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: release_artifact
short_description: Fetch a release tag on the bastion and build its archive, exactly and atomically
version_added: 0.2.0
description:
  - Fetches the tag O(version) from O(origin) into the bastion's checkout O(checkout) (created if missing) and puts
    the checkout on the tag's commit, so C(make migrate) runs the release's migrations.
  - Builds C(<artifacts_dir>/<version>-<commit>.tar.gz) with C(git archive) into a temporary file renamed into place,
    so an interrupted build never leaves a truncated archive behind; an archive for the same commit is reused.
  - Records the commit a version was first built from. When the tag later points at another commit, the module
    refuses, naming both commits, instead of shipping different code under the same version.
author:
  - Platform Engineering Team (@platform-eng)
extends_documentation_fragment:
  - platform_eng.incident_response.attributes
attributes:
  check_mode:
    support: full
    details: Resolves the tag and checks it did not move; builds nothing and moves nothing.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: The same tag and commit reuse the archive and report no change.
options:
  version:
    description: The release tag, for example V(v1.2.3).
    type: str
    required: true
  origin:
    description: The git origin the tag comes from.
    type: str
    required: true
  checkout:
    description: The bastion's checkout of the service (where C(make migrate) runs).
    type: path
    required: true
  artifacts_dir:
    description: Where archives and build records are kept.
    type: path
    default: /var/lib/incident-response/artifacts
  keep_releases:
    description:
      - Keep the archives of this many most recent versions (always including O(version)) and remove older ones.
        Build records are kept, so a moved tag is still detected. V(0) keeps everything.
    type: int
    default: 0
seealso:
  - module: platform_eng.incident_response.release_step
"""

EXAMPLES = r"""
- name: Build the release archive for v1.2.3 on the bastion
  platform_eng.incident_response.release_artifact:
    version: v1.2.3
    origin: https://git.example.com/platform/incident-response.git
    checkout: /opt/incident-response
  delegate_to: bastion
  register: build
"""

RETURN = r"""
commit:
  description: The commit the tag points to.
  returned: success
  type: str
  sample: 0123abcd0123abcd0123abcd0123abcd0123abcd
path:
  description: The archive on the bastion.
  returned: success, not in check mode
  type: str
  sample: /var/lib/incident-response/artifacts/v1.2.3-0123abcd0123.tar.gz
archive:
  description: The archive's file name.
  returned: success, not in check mode
  type: str
  sample: v1.2.3-0123abcd0123.tar.gz
sha256:
  description: The archive's SHA-256.
  returned: success, not in check mode
  type: str
  sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
pruned:
  description: Archives removed by O(keep_releases).
  returned: success, not in check mode
  type: list
  elements: str
  sample: [/var/lib/incident-response/artifacts/v1.1.0-89abcdef0123.tar.gz]
built:
  description: Whether the archive was built now (false when an archive of the same commit existed).
  returned: success
  type: bool
  sample: true
"""

import datetime as dt
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.platform_eng.incident_response.plugins.module_utils import _artifact as artifact
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    IncidentResponseError,
)
from ansible_collections.platform_eng.incident_response.plugins.module_utils._release_history import RELEASE_NAME


def main():
    module = AnsibleModule(
        argument_spec=dict(
            version=dict(type="str", required=True),
            origin=dict(type="str", required=True),
            checkout=dict(type="path", required=True),
            artifacts_dir=dict(type="path", default="/var/lib/incident-response/artifacts"),
            keep_releases=dict(type="int", default=0),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if not RELEASE_NAME.match(p["version"]):
        module.fail_json(msg=f"version {p['version']!r} is not a release name (vX.Y.Z)")
    where = f"{p['version']} from {p['origin']}"
    try:
        if module.check_mode:
            out = artifact.git("ls-remote", "--exit-code", "--tags", "--", p["origin"],
                               f"refs/tags/{p['version']}^{{}}", f"refs/tags/{p['version']}")
            lines = [line.split() for line in out.splitlines() if line.strip()]
            peeled = [sha for sha, ref in lines if ref.endswith("^{}")]
            commit = (peeled or [lines[0][0]])[0]
            artifact.check_not_moved(os.path.join(p["artifacts_dir"], f"{p['version']}.build.json"),
                                     p["version"], commit)
            module.exit_json(changed=False, commit=commit, built=False)
        commit = artifact.fetch_tag(p["checkout"], p["origin"], p["version"])
        now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
        result = artifact.build(p["checkout"], p["artifacts_dir"], p["version"], commit, now)
        moved = artifact.checkout_commit(p["checkout"], commit)
        result["pruned"] = artifact.prune(p["artifacts_dir"], p["keep_releases"], [p["version"]])
    except (IncidentResponseError, OSError) as exc:
        module.fail_json(msg=f"Preparing {where} failed: {exc}")
    module.exit_json(changed=bool(result["built"] or moved or result["pruned"]), **result)


if __name__ == "__main__":
    main()
