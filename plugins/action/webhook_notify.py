# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Post one event to a Slack-compatible webhook from the controller process itself.

A notification is a single HTTPS POST from the controller. Running it as a
module would start a Python process for it; posting from the action plugin
costs only the request, which matters because every deploy and rollback
sends several while the fleet waits.
"""

from __future__ import annotations

from ansible.module_utils.urls import open_url
from ansible.plugins.action import ActionBase

from ansible_collections.platform_eng.incident_response.plugins.module_utils import _webhook as webhook


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _spec, args = self.validate_argument_spec(argument_spec=dict(
            url=dict(type="str", required=True, no_log=True),
            text=dict(type="str", required=True),
            event=dict(type="str", required=True),
            channel=dict(type="str", default="#deployments"),
            username=dict(type="str", default="incident-response-automation"),
            fields=dict(type="dict", default={}),
            dashboards=dict(type="dict", default={}),
            timeout=dict(type="float", default=10),
            fail_on_error=dict(type="bool", default=False),
        ))
        body = webhook.payload(args["text"], args["channel"], args["username"], args["event"], args["fields"],
                               args["dashboards"])
        if self._play_context.check_mode:
            return dict(result, changed=False, delivered=False, event=args["event"],
                        msg=f"check mode: {args['event']} would be posted to {args['channel']}")
        status, error = webhook.post(args["url"], body, args["timeout"], open_url)
        result.update(changed=False, delivered=error is None, status=status, event=args["event"])
        if error:
            result["msg"] = f"could not post {args['event']} to the webhook: {error}"
            result["failed"] = bool(args["fail_on_error"])
        return result
