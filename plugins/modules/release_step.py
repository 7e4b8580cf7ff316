#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: release_step
short_description: Put one app host on one release in a single call (install, switch, restart, health gate, record)
version_added: 0.2.0
description:
  - The whole per-host part of a deploy or rollback, done on the host in one module call, so a fleet costs little
    more than one round trip per host.
  - When the release is not on disk, it is unpacked from O(archive) into C(releases/<version>.partial-<run>),
    prepared there with C(make deploy ENV=<environment>), and only then renamed to C(releases/<version>); an
    interrupted unpack can never become C(current). If the archive is not on the host, the action plugin copies
    it from O(src) on the controller (checked against O(archive_sha256)) and runs the step again.
  - C(current) is switched with one atomic rename of a new symlink. The service restarts when the link moved, and
    also when it runs something other than the target (a run killed between switch and restart).
  - The host must then answer C(/health) with C(status=ok) and the target version O(gate_samples) times in a row
    within O(gate_timeout) seconds.
  - The target is recorded in the release history with O(record) (V(deploying) until the watch window passes),
    and with O(mark_left) the release it left is marked too (a rollback marks it V(rolled_back)).
  - On failure the result says whether C(current) had already moved (RV(switched)) and from which release
    (RV(version_before)), so the caller can put the host back.
author:
  - Platform Engineering Team (@platform-eng)
extends_documentation_fragment:
  - platform_eng.incident_response.attributes
attributes:
  check_mode:
    support: full
    details: Reports the plan (install or not, switch or not) and changes nothing.
  diff_mode:
    support: full
  idempotent:
    support: full
    details: A host already serving a healthy target reports no change.
options:
  version:
    description: The release to put live, for example V(v1.2.3).
    type: str
    required: true
  app_dir:
    description: The application directory holding C(releases/) and the C(current) link.
    type: path
    required: true
  state_dir:
    description: Where the release history (C(releases.json)) and received archives (C(artifacts/)) live.
    type: path
    default: /var/lib/incident-response
  environment:
    description: The C(ENV) passed to C(make deploy).
    type: str
    required: true
  port:
    description: The service's port on this host; the gate asks C(http://127.0.0.1:<port>/health).
    type: int
    required: true
  run_id:
    description: The deploy or rollback run.
    type: str
    required: true
  by:
    description: Who runs it (user, or AWX user and job).
    type: str
    default: unknown
  archive:
    description: The release archive on the host; defaults to C(<state_dir>/artifacts/<version>.tar.gz).
    type: path
  src:
    description: The release archive on the controller, copied to the host only when the release is not on disk.
    type: path
  archive_sha256:
    description: The archive's SHA-256; an archive on the host that does not match is replaced from O(src).
    type: str
  send_archive:
    description:
      - Copy O(src) to the host before the first run of the module, because the caller already knows the host lacks
        the release (a deploy's plan read its releases). Saves one round trip; without it the module asks first.
      - Handled by the action plugin.
    type: bool
    default: false
  record:
    description: The result recorded for O(version) once the host is healthy on it.
    type: str
    choices: [deploying, healthy]
    default: deploying
  mark_left:
    description: When set, the release this host leaves is recorded with this result (a rollback uses V(rolled_back)).
    type: str
    choices: [rolled_back, failed]
  note:
    description: A short note stored with the history entries.
    type: str
  change_ticket:
    description: The change ticket, stored in the history entry.
    type: str
  override_reason:
    description: Why a gate was overridden (deployment window), stored in the history entry.
    type: str
  gate_samples:
    description: Healthy answers in a row the gate needs.
    type: int
    default: 3
  gate_timeout:
    description: Seconds the gate waits in total.
    type: float
    default: 30
  keep_releases:
    description:
      - After success, keep this many releases and remove older ones, never the live one nor the last good
        ones; also remove C(.partial) directories and archives of releases no longer kept. V(0) keeps everything.
    type: int
    default: 0
seealso:
  - module: platform_eng.incident_response.release_history_info
  - module: platform_eng.incident_response.deploy_lock
"""

EXAMPLES = r"""
- name: Deploy v1.2.3 on this host (one call per host)
  platform_eng.incident_response.release_step:
    version: v1.2.3
    app_dir: /opt/incident-response
    environment: production
    port: 8080
    run_id: "{{ deploy_run.id }}"
    src: "~/.cache/incident-response/releases/v1.2.3-0123abcd.tar.gz"
    archive_sha256: "{{ build.sha256 }}"
    keep_releases: 5

- name: Roll this host back to a release it still has on disk
  platform_eng.incident_response.release_step:
    version: v1.2.2
    app_dir: /opt/incident-response
    environment: production
    port: 8080
    run_id: "{{ deploy_run.id }}"
    record: healthy
    mark_left: rolled_back
"""

RETURN = r"""
version_before:
  description: The release C(current) pointed at before the step, or null.
  returned: always
  type: str
  sample: v1.2.2
version_after:
  description: The release C(current) points at after the step.
  returned: always
  type: str
  sample: v1.2.3
switched:
  description: Whether C(current) moved (also on failure, so the caller knows to put the host back).
  returned: always
  type: bool
  sample: true
installed:
  description: Whether the release was unpacked and prepared now.
  returned: always
  type: bool
  sample: true
restarted:
  description: Whether the service was restarted.
  returned: always
  type: bool
  sample: true
gate_seconds:
  description: Seconds until the health gate passed.
  returned: success, not in check mode
  type: float
  sample: 1.42
needs_archive:
  description: The release is not on disk and no usable archive is on the host (the action plugin then copies it).
  returned: when true
  type: bool
  sample: true
recorded:
  description: Whether the release history changed (a later step marks this run's entry V(healthy)).
  returned: success, not in check mode
  type: bool
  sample: true
timings:
  description: Seconds spent preparing the release (C(install), unpack and C(make deploy) when needed) and restarting
    the service (C(restart)); the health gate is RV(gate_seconds).
  returned: when not in check mode
  type: dict
  sample: {"install": 0.41, "restart": 0.52}
pruned:
  description: Paths removed by O(keep_releases).
  returned: always
  type: list
  elements: str
  sample: [/opt/incident-response/releases/v1.1.0]
"""

import hashlib
import os
import time
import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.platform_eng.incident_response.plugins.module_utils import _release as release
from ansible_collections.platform_eng.incident_response.plugins.module_utils import _release_history as history
from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import (
    IncidentResponseError,
)


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def main():
    module = AnsibleModule(
        argument_spec=dict(
            version=dict(type="str", required=True),
            app_dir=dict(type="path", required=True),
            state_dir=dict(type="path", default="/var/lib/incident-response"),
            environment=dict(type="str", required=True),
            port=dict(type="int", required=True),
            run_id=dict(type="str", required=True),
            by=dict(type="str", default="unknown"),
            archive=dict(type="path"),
            src=dict(type="path"),
            archive_sha256=dict(type="str"),
            send_archive=dict(type="bool", default=False),
            record=dict(type="str", choices=["deploying", "healthy"], default="deploying"),
            mark_left=dict(type="str", choices=["rolled_back", "failed"]),
            note=dict(type="str"),
            change_ticket=dict(type="str"),
            override_reason=dict(type="str"),
            gate_samples=dict(type="int", default=3),
            gate_timeout=dict(type="float", default=30),
            keep_releases=dict(type="int", default=0),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if not history.RELEASE_NAME.match(p["version"]):
        module.fail_json(msg=f"version {p['version']!r} is not a release name (vX.Y.Z)")
    app_dir, version = p["app_dir"], p["version"]
    history_path = os.path.join(p["state_dir"], "releases.json")
    archive = p["archive"] or os.path.join(p["state_dir"], "artifacts", f"{version}.tar.gz")
    before = history.current_version(app_dir)
    on_disk = os.path.isdir(os.path.join(app_dir, "releases", version))
    result: dict[str, t.Any]
    result = dict(changed=False, version_before=before, version_after=before, switched=False, installed=False,
                  restarted=False, pruned=[])
    if before != version:
        result["diff"] = dict(before=f"current: {before or 'nothing'}\n", after=f"current: {version}\n")

    if not on_disk:
        usable = os.path.isfile(archive) and (not p["archive_sha256"] or _sha256(archive) == p["archive_sha256"])
        if not usable:
            if module.check_mode:
                result.update(changed=True, version_after=version, plan="unpack the release, switch, restart")
                module.exit_json(**result)
            module.exit_json(needs_archive=True, **result)

    if module.check_mode:
        running = release.running_version(p["port"])
        result.update(changed=before != version or running != version, version_after=version)
        module.exit_json(**result)

    extra = {"change_ticket": p["change_ticket"], "override_reason": p["override_reason"]}
    timings = result["timings"] = {}
    started = time.monotonic()
    try:
        try:
            result["installed"] = release.install(app_dir, version, archive, p["run_id"], p["environment"])
        except IncidentResponseError as exc:
            raise release.StepError(f"preparing {version} failed: {exc}") from exc
        timings["install"] = round(time.monotonic() - started, 3)
        result["switched"] = release.point_current(app_dir, version)
        result["version_after"] = version
        if result["switched"] or release.running_version(p["port"]) != version:
            started = time.monotonic()
            try:
                release.restart(app_dir)
            except IncidentResponseError as exc:
                raise release.StepError(str(exc), switched=result["switched"]) from exc
            result["restarted"] = True
            timings["restart"] = round(time.monotonic() - started, 3)
        try:
            result["gate_seconds"] = release.wait_healthy(p["port"], version, p["gate_samples"], p["gate_timeout"],
                                                          delay=0.1)
        except IncidentResponseError as exc:
            raise release.StepError(str(exc), switched=result["switched"]) from exc
        entries = history.load(history_path)
        changed_history = False
        if p["mark_left"] and before and before != version and result["switched"]:
            entries, changed = history.record(entries, before, p["mark_left"], p["run_id"], p["by"],
                                              note=p["note"] or f"left for {version}", extra=extra)
            changed_history |= changed
        current_result = next((e["result"] for e in reversed(entries) if e["version"] == version), None)
        # A host already live and healthy on the target, untouched now, keeps its record: an idempotent rerun.
        if not (current_result == "healthy" and not result["switched"] and not result["restarted"]):
            entries, changed = history.record(entries, version, p["record"], p["run_id"], p["by"],
                                              note=p["note"], extra=extra)
            changed_history |= changed
        result["recorded"] = changed_history
        if changed_history:
            history.save(history_path, entries)
        if p["keep_releases"] > 0:
            kept = history.kept_releases(app_dir)
            protect = (version, before, history.last_good(entries, kept=kept),
                       history.last_good(entries, exclude=version, kept=kept))
            result["pruned"] = release.prune(app_dir, p["keep_releases"], protect, p["run_id"],
                                             os.path.join(p["state_dir"], "artifacts"))
        result["changed"] = bool(result["installed"] or result["switched"] or result["restarted"] or changed_history
                                 or result["pruned"])
    except release.StepError as exc:
        result["switched"] = result["switched"] or exc.switched
        module.fail_json(msg=str(exc), **result)
    except (IncidentResponseError, OSError) as exc:
        module.fail_json(msg=f"{version} on this host: {exc}", **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
