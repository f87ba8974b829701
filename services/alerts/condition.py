"""A small hand-written tokenizer and parser for rule conditions (never eval).

Grammar::

    condition := [reducer "(" selector "[" duration "]" ")" | selector] op number
    selector  := name ["{" matcher ("," matcher)* "}"]
    matcher   := label ("=" | "!=" | "=~" | "!~") (quoted string | bare word)
    op        := ">" | ">=" | "<" | "<=" | "==" | "!="

Example: ``avg(http.response_ms{target="api"}[5m]) > 3000``. A bare selector means
``last(selector[0s])``: the newest sample alone.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field

REDUCERS = ("avg", "min", "max", "last", "sum", "p50", "p95", "p99", "rate", "count")
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_TOKENS = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<op>>=|<=|==|!=|=~|!~|>|<|=)
  | (?P<punct>[(){}\[\],])
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![A-Za-z_]))
  | (?P<word>[A-Za-z0-9_.:\-/%]+)
    """,
    re.VERBOSE,
)


class ConditionError(ValueError):
    """A condition that does not parse; ``column`` is 1-based."""

    def __init__(self, reason: str, column: int) -> None:
        super().__init__(f"column {column}: {reason}")
        self.reason = reason
        self.column = column


def parse_duration(text: str | int | float) -> float:
    """``"5m"`` → 300.0; a bare number is seconds. Raises ValueError with the reason."""
    if isinstance(text, bool):
        raise ValueError(f"bad duration {text!r}: expected e.g. 30s, 5m, 1h")
    if isinstance(text, int | float):
        if text < 0:
            raise ValueError(f"bad duration {text!r}: must not be negative")
        return float(text)
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(f"bad duration {text!r}: expected e.g. 30s, 5m, 1h")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


@dataclass(frozen=True)
class Matcher:
    """One label matcher of a selector."""

    label: str
    op: str  # = != =~ !~
    value: str
    pattern: re.Pattern[str] | None = None

    def matches(self, labels: dict[str, str]) -> bool:
        actual = labels.get(self.label, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        assert self.pattern is not None
        found = self.pattern.fullmatch(actual) is not None
        return found if self.op == "=~" else not found


@dataclass(frozen=True)
class Selector:
    """A metric name plus label matchers."""

    name: str
    matchers: tuple[Matcher, ...] = ()

    def matches(self, name: str, labels: dict[str, str]) -> bool:
        return name == self.name and all(m.matches(labels) for m in self.matchers)


@dataclass(frozen=True)
class Condition:
    """A parsed condition: reducer over a window of a selector, compared to a threshold."""

    reducer: str
    selector: Selector
    window_s: float
    op: str
    threshold: float
    text: str = field(default="", compare=False)

    def holds(self, value: float) -> bool:
        return OPERATORS[self.op](value, self.threshold)


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    col: int


def tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(text):
        match = _TOKENS.match(text, pos)
        if not match:
            raise ConditionError(f"unexpected character {text[pos]!r}", pos + 1)
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(_Tok(kind, match.group(), pos + 1))
        pos = match.end()
    tokens.append(_Tok("end", "", len(text) + 1))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = tokenize(text)
        self.i = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self, kind: str, text: str | None = None, what: str = "") -> _Tok:
        tok = self.peek()
        if tok.kind != kind or (text is not None and tok.text != text):
            wanted = what or (repr(text) if text else kind)
            got = repr(tok.text) if tok.text else "end of condition"
            raise ConditionError(f"expected {wanted}, found {got}", tok.col)
        self.i += 1
        return tok

    def parse(self) -> Condition:
        first = self.take("word", what="a reducer or metric name")
        if self.peek().text == "(":
            if first.text not in REDUCERS:
                raise ConditionError(
                    f"unknown reducer {first.text!r} (use one of {', '.join(REDUCERS)})",
                    first.col,
                )
            reducer = first.text
            self.take("punct", "(")
            name = self.take("word", what="a metric name")
            selector = self.selector(name)
            self.take("punct", "[")
            dur = self.peek()
            raw = ""
            while self.peek().text != "]" and self.peek().kind != "end":
                raw += self.toks[self.i].text
                self.i += 1
            try:
                window = parse_duration(raw)
            except ValueError as exc:
                raise ConditionError(str(exc), dur.col) from None
            if window <= 0:
                raise ConditionError("the window must be longer than 0", dur.col)
            self.take("punct", "]")
            self.take("punct", ")")
        else:
            reducer, window = "last", 0.0
            selector = self.selector(first)
        op_tok = self.take("op", what="a comparison (> >= < <= == !=)")
        if op_tok.text not in OPERATORS:
            raise ConditionError(f"unknown comparison {op_tok.text!r}", op_tok.col)
        num = self.take("number", what="a number")
        self.take("end", what="end of condition")
        return Condition(reducer, selector, window, op_tok.text, float(num.text), self.text)

    def selector(self, name: _Tok) -> Selector:
        matchers: list[Matcher] = []
        if self.peek().text == "{":
            self.take("punct", "{")
            while self.peek().text != "}":
                label = self.take("word", what="a label name")
                op = self.take("op", what="= != =~ or !~")
                if op.text not in ("=", "!=", "=~", "!~"):
                    raise ConditionError(f"bad label matcher {op.text!r}", op.col)
                val_tok = self.peek()
                if val_tok.kind == "string":
                    value = bytes(val_tok.text[1:-1], "utf-8").decode("unicode_escape")
                elif val_tok.kind in ("word", "number"):
                    value = val_tok.text
                else:
                    raise ConditionError("expected a label value", val_tok.col)
                self.i += 1
                pattern = None
                if op.text in ("=~", "!~"):
                    try:
                        pattern = re.compile(value)
                    except re.error as exc:
                        raise ConditionError(f"bad regex {value!r}: {exc}", val_tok.col) from None
                matchers.append(Matcher(label.text, op.text, value, pattern))
                if self.peek().text == ",":
                    self.take("punct", ",")
                elif self.peek().text != "}":
                    raise ConditionError("expected ',' or '}'", self.peek().col)
            self.take("punct", "}")
        return Selector(name.text, tuple(matchers))


def parse_condition(text: str) -> Condition:
    """Parse a condition; raise ConditionError naming the column and the reason."""
    if not isinstance(text, str) or not text.strip():
        raise ConditionError("empty condition", 1)
    return _Parser(text).parse()


def parse_selector(text: str) -> Selector:
    """Parse a bare selector such as ``program.up{program="x"}``."""
    parser = _Parser(text)
    sel = parser.selector(parser.take("word", what="a metric name"))
    parser.take("end", what="end of selector")
    return sel
