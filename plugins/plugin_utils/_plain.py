# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Task arguments and registered results as plain Python data."""

from __future__ import annotations

import typing as t


def plain(value: t.Any) -> t.Any:
    """ansible-core 2.19 hands over tagged subclasses of dict, list and str; decide on (and dump) plain types."""
    if isinstance(value, t.Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value
