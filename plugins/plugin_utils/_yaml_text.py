# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Configuration files as people read them: keys in the order given, multi-line strings as ``|`` blocks.

The same data always gives the same bytes, so installing a file twice changes nothing.
"""

from __future__ import annotations

import typing as t

import yaml

from ansible_collections.platform_eng.incident_response.plugins.plugin_utils._plain import plain


class _Dumper(yaml.SafeDumper):
    """SafeDumper that indents lists under their key and keeps long lines whole."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def dump(data: t.Any, header: str = "") -> str:
    """YAML text with an optional comment header (one ``# `` line per line of ``header``)."""
    comment = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    body = yaml.dump(plain(data), Dumper=_Dumper, sort_keys=False, width=1000, allow_unicode=True,
                     default_flow_style=False)
    return comment + body
