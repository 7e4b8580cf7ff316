# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# Modelled on community.crypto's attributes fragment: the attribute
# descriptions live here once, and each module states its support with one
# of the variants below instead of repeating the same YAML.

from __future__ import annotations


class ModuleDocFragment:
    # The standard fragment: descriptions of the attributes every module declares.
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in C(check_mode) and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in C(check_mode)), when in diff mode.
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
      - This assumes that the system controlled/queried by the module has not changed in a relevant way.
"""

    # Use together with the standard fragment, for read-only (_info) modules.
    INFO_MODULE = r"""
options: {}
attributes:
  check_mode:
    support: full
    details:
      - This action does not modify state.
  diff_mode:
    support: N/A
    details:
      - This action does not modify state.
"""

    # Use together with the standard fragment, for modules that never change anything.
    IDEMPOTENT_NOT_MODIFY_STATE = r"""
options: {}
attributes:
  idempotent:
    support: full
    details:
      - This action does not modify state.
"""

    # Use together with the standard fragment, for action plugins that decide on the controller and touch no host.
    CONTROLLER_DECISION = r"""
options: {}
attributes:
  action:
    support: full
    description: Runs on the controller only.
  connection:
    support: none
    description: Needs no connection to the target.
"""
