# -*- coding: utf-8 -*-
# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Assertions on a JSON body: ``path op literal``, parsed by hand and never evaluated as code.

``parse_assertion`` turns text such as ``checks.database.status == "ok"``
into a ``JsonAssertion``; ``JsonAssertion.evaluate`` checks it against a
decoded document. The only operations are dictionary and list look-ups and
the listed comparisons, so an assertion from a playbook, a survey or an
event can never run code.
"""

from __future__ import annotations

import dataclasses
import json
import re
import typing as t

from ansible_collections.platform_eng.incident_response.plugins.module_utils._findings import IncidentResponseError

MAX_ASSERTION_CHARS = 512
_KEYWORDS = {"true": True, "false": False, "null": None}
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
      | (?P<op>==|!=|<=|>=|<|>)
      | (?P<punct>[\[\],.])
      | (?P<word>[A-Za-z_][A-Za-z0-9_-]*)
    )""",
    re.VERBOSE,
)
COMPARISONS = ("==", "!=", "<", "<=", ">", ">=", "in", "not in")
_MISSING = object()


class AssertionSyntaxError(IncidentResponseError):
    pass


@dataclasses.dataclass(frozen=True)
class Token:
    kind: str
    text: str
    column: int


@dataclasses.dataclass(frozen=True)
class Path:
    """A dotted path into the JSON body: keys (str) and list indexes (int)."""

    steps: tuple[str | int, ...]
    text: str


@dataclasses.dataclass(frozen=True)
class Literal:
    value: t.Any


Operand = t.Union[Path, Literal]


@dataclasses.dataclass(frozen=True)
class AssertionResult:
    passed: bool
    actual: t.Any
    message: str | None


@dataclasses.dataclass(frozen=True)
class JsonAssertion:
    text: str
    left: Operand
    op: str
    right: Operand

    def evaluate(self, document: t.Any) -> AssertionResult:
        left = _resolve(self.left, document)
        right = _resolve(self.right, document)
        actual = left if isinstance(self.left, Path) else right
        for operand, value in ((self.left, left), (self.right, right)):
            if value is _MISSING and isinstance(operand, Path):  # a literal is never missing
                return AssertionResult(False, None, f"{operand.text} not found in the body")
        try:
            passed = _apply(self.op, left, right)
        except TypeError as exc:
            return AssertionResult(False, actual, str(exc))
        return AssertionResult(passed, actual, None if passed else f"actual value {json.dumps(actual)}")


def _tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            column = position + len(text[position:]) - len(text[position:].lstrip()) + 1
            raise AssertionSyntaxError(f"unexpected character {text[column - 1]!r} at column {column}")
        kind = t.cast(str, match.lastgroup)
        tokens.append(Token(kind, match.group(kind), match.start(kind) + 1))
        position = match.end()
    return tokens


def _decode_string(token: Token) -> str:
    inner = token.text[1:-1]
    if token.text[0] == "'":
        # Single quotes: only \\, \' and \" are escapes, nothing else is magic.
        return re.sub(r"\\(.)", lambda m: m.group(1), inner)
    try:
        return json.loads(token.text)
    except ValueError:
        raise AssertionSyntaxError(f"invalid string {token.text} at column {token.column}") from None


class _Parser:
    """Recursive descent over: operand OP operand.

    operand := literal | path
    literal := "string" | 'string' | number | true | false | null | [literal, ...]
    path    := word ( . word | . digits | [ "key" ] | [ digits ] )*
    """

    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0

    def peek(self) -> Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self, wanted: str) -> Token:
        """The next token, whatever it is; ``wanted`` describes it for the error."""
        token = self.peek()
        if token is None:
            raise AssertionSyntaxError(f"unexpected end of assertion, expected {wanted}")
        self.index += 1
        return token

    def expect(self, text: str) -> Token:
        token = self.take(repr(text))
        if token.text != text:
            raise AssertionSyntaxError(f"expected {text!r} at column {token.column}, found {token.text!r}")
        return token

    def parse(self) -> JsonAssertion:
        left = self.operand()
        op = self.operator()
        right = self.operand()
        extra = self.peek()
        if extra is not None:
            raise AssertionSyntaxError(
                f"unexpected {extra.text!r} at column {extra.column}; one comparison per assertion"
            )
        if not isinstance(left, Path) and not isinstance(right, Path):
            raise AssertionSyntaxError("neither side is a path into the JSON body (did you quote the path?)")
        if op in ("in", "not in") and not isinstance(right, Path) and not isinstance(right.value, (list, str)):
            raise AssertionSyntaxError(f"the right side of {op!r} must be a list, a string or a path")
        return JsonAssertion(self.text, left, op, right)

    def operator(self) -> str:
        token = self.take("an operator")
        if token.kind == "op" or token.text == "in":
            return token.text
        if token.text == "not":
            self.expect("in")
            return "not in"
        raise AssertionSyntaxError(
            f"expected an operator ({', '.join(COMPARISONS)}) at column {token.column}, found {token.text!r}"
        )

    def operand(self) -> Operand:
        token = self.take("a value or a path")
        if token.kind == "string":
            return Literal(_decode_string(token))
        if token.kind == "number":
            return Literal(json.loads(token.text))
        if token.text == "[":
            return Literal(self.list_literal())
        if token.kind == "word" and token.text in _KEYWORDS:
            return Literal(_KEYWORDS[token.text])
        if token.kind == "word" and token.text not in ("in", "not"):
            return self.path(token)
        raise AssertionSyntaxError(f"expected a value or a path at column {token.column}, found {token.text!r}")

    def list_literal(self) -> list[t.Any]:
        items: list[t.Any] = []
        while True:
            token = self.peek()
            if token is not None and token.text == "]" and not items:
                self.expect("]")
                return items
            item = self.operand()
            if isinstance(item, Path):
                raise AssertionSyntaxError(f"lists may only hold literals; found path {item.text!r}")
            items.append(item.value)
            closing = self.take("',' or ']'")
            if closing.text == "]":
                return items
            if closing.text != ",":
                raise AssertionSyntaxError(f"expected ',' or ']' at column {closing.column}, found {closing.text!r}")

    def path(self, first: Token) -> Path:
        steps: list[str | int] = [first.text]
        start = first.column - 1
        end = first.column - 1 + len(first.text)
        while True:
            token = self.peek()
            if token is None or token.text not in (".", "["):
                break
            self.take(token.text)
            if token.text == ".":
                step = self.take("a key after '.'")
                if step.kind == "word":
                    steps.append(step.text)
                elif step.kind == "number" and step.text.isdigit():
                    steps.append(int(step.text))
                else:
                    raise AssertionSyntaxError(f"expected a key after '.' at column {step.column}, found {step.text!r}")
                end = step.column - 1 + len(step.text)
            else:
                step = self.take("a key or an index after '['")
                if step.kind == "string":
                    steps.append(_decode_string(step))
                elif step.kind == "number" and step.text.isdigit():
                    steps.append(int(step.text))
                else:
                    raise AssertionSyntaxError(f"expected a quoted key or an index at column {step.column}")
                end = self.expect("]").column
        return Path(tuple(steps), self.text[start:end])


def parse_assertion(text: str) -> JsonAssertion:
    """Parse one assertion such as ``checks.database.status == "ok"``.

    Raises AssertionSyntaxError (an IncidentResponseError) with the column
    of the problem. Nothing in the text is ever executed: the only
    operations are dictionary/list look-ups and the listed comparisons.
    """
    if not isinstance(text, str) or not text.strip():
        raise AssertionSyntaxError("empty assertion")
    if len(text) > MAX_ASSERTION_CHARS:
        raise AssertionSyntaxError(f"assertion longer than {MAX_ASSERTION_CHARS} characters")
    return _Parser(text).parse()


def _resolve(operand: Operand, document: t.Any) -> t.Any:
    if isinstance(operand, Literal):
        return operand.value
    value = document
    for step in operand.steps:
        if isinstance(value, dict) and isinstance(step, str) and step in value:
            value = value[step]
        elif isinstance(value, dict) and isinstance(step, int) and str(step) in value:
            value = value[str(step)]
        elif isinstance(value, list) and isinstance(step, int) and step < len(value):
            value = value[step]
        else:
            return _MISSING
    return value


def _is_number(value: t.Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _json_equal(left: t.Any, right: t.Any) -> bool:
    # JSON's true is not 1, although Python's True == 1.
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left is right
    return bool(left == right)


def _apply(op: str, left: t.Any, right: t.Any) -> bool:
    if op == "==":
        return _json_equal(left, right)
    if op == "!=":
        return not _json_equal(left, right)
    if op in ("in", "not in"):
        if isinstance(right, list):
            found = any(_json_equal(left, item) for item in right)
        elif isinstance(right, (str, dict)) and isinstance(left, str):
            found = left in right
        else:
            raise TypeError(f"cannot test {type(left).__name__} in {type(right).__name__}")
        return found if op == "in" else not found
    if not ((_is_number(left) and _is_number(right)) or (isinstance(left, str) and isinstance(right, str))):
        raise TypeError(f"cannot compare {type(left).__name__} {op} {type(right).__name__}")
    return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]
