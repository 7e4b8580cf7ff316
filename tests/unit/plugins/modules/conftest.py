# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Module tests run main() as it runs on a target host."""

from __future__ import annotations

import pytest
from ansible.module_utils import _internal


@pytest.fixture(autouse=True)
def target_context(monkeypatch: pytest.MonkeyPatch) -> None:
    # ansible-core 2.19 switches module_utils into controller mode as soon as
    # any controller-side module is imported in the process (a filter
    # plugin's test does), and then warn() prints instead of returning the
    # warning with the result. On a target, warnings come back in the result.
    monkeypatch.setattr(_internal, "is_controller", False)
