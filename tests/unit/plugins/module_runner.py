# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""A module's main() as Ansible runs it on a target: arguments in, one JSON document out."""

from __future__ import annotations

import json
import types
import typing as t

import pytest
from ansible.module_utils.testing import patch_module_args


def run_module(capsys: pytest.CaptureFixture[str], module: types.ModuleType, args: dict[str, t.Any],
               secrets: t.Iterable[str] = ()) -> dict[str, t.Any]:
    """The module's result; none of ``secrets`` may appear anywhere in what it printed."""
    with patch_module_args(args), pytest.raises(SystemExit):
        module.main()
    out = capsys.readouterr().out
    for secret in secrets:
        assert secret not in out
    return json.loads(out)
