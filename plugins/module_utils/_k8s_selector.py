# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Kubernetes label selectors, parsed and matched on the client side.

The API server filters by ``labelSelector`` already. Parsing the selector
here first turns a typo into a clear error before any request, and
matching again keeps the result right against servers that ignore the
selector (kmock, the emulator the lab builds on, does).
"""

from __future__ import annotations

import dataclasses
import re
import typing as t


@dataclasses.dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # = != in notin exists !exists
    values: tuple[str, ...] = ()

    def matches(self, labels: t.Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.operator == "exists":
            return present
        if self.operator == "!exists":
            return not present
        if self.operator in ("=", "in"):
            return present and value in self.values
        # != and notin also match objects without the label, as the API server does.
        return not present or value not in self.values


_KEY = r"(?:[A-Za-z0-9][-A-Za-z0-9.]*/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?"
_VALUE = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_EQUALITY = re.compile(rf"^({_KEY})\s*(==|=|!=)\s*({_VALUE})$")
_SET = re.compile(rf"^({_KEY})\s+(in|notin)\s*\(([^()]*)\)$")
_EXISTS = re.compile(rf"^(!?)\s*({_KEY})$")


def _split_terms(selector: str) -> list[str]:
    """Split at commas outside parentheses: "app in (a,b),tier=web" has two terms."""
    terms, depth, current = [], 0, ""
    for char in selector:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            terms.append(current.strip())
            current = ""
        else:
            current += char
    terms.append(current.strip())
    return terms


def parse_selector(selector: str) -> list[Requirement]:
    """Parse a label selector as kubectl accepts it; ValueError names the term that is wrong."""
    if not selector.strip():
        return []
    requirements = []
    for term in _split_terms(selector):
        equality, set_based, exists = _EQUALITY.match(term), _SET.match(term), _EXISTS.match(term)
        if equality:
            operator = "!=" if equality.group(2) == "!=" else "="
            requirements.append(Requirement(equality.group(1), operator, (equality.group(3),)))
        elif set_based:
            values = tuple(v.strip() for v in set_based.group(3).split(","))
            if not all(re.fullmatch(_VALUE, v) for v in values):
                raise ValueError(f"term {term!r} has a value that is not a valid label value")
            requirements.append(Requirement(set_based.group(1), set_based.group(2), values))
        elif exists:
            requirements.append(Requirement(exists.group(2), "!exists" if exists.group(1) else "exists"))
        else:
            raise ValueError(f"term {term!r} is not KEY=VALUE, KEY!=VALUE, KEY in (A,B), KEY notin (A,B), KEY or !KEY")
    return requirements


def selector_matches(requirements: t.Sequence[Requirement], obj: t.Mapping[str, t.Any]) -> bool:
    """Whether an API object (a pod as JSON) carries labels that satisfy every requirement."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return all(requirement.matches(labels) for requirement in requirements)
