"""Expressions over kernel facts, for a scenario's requires/facts/expect.

Grammar (``and`` binds tighter than ``or``; ``not`` and parentheses)::

    expr    := term ('or' term)*
    term    := factor ('and' factor)*
    factor  := 'not' factor | '(' expr ')' | atom
    atom    := 'version' OP X.Y[.Z]        version >= 6.9
             | CONFIG_NAME ['=' VALUE]     set (y or m), or a given value
             | 'symbol:' NAME              NAME in System.map
             | NAME                        a named fact of the scenario

An atom whose source is missing (no config, no System.map) is *unknown*:
evaluation raises Unknown, and the runner says the kernel cannot be tested.
"""

import re
from typing import Callable, Dict, List, Optional, Tuple

from .kernels import KernelFacts

_TOKEN = re.compile(r"\s*(\(|\)|>=|<=|==|!=|<|>|[A-Za-z_][\w:.+-]*=[\w.]+|"
                    r"[A-Za-z_][\w:.+-]*|\d+(?:\.\d+)*)")
_OPS: Dict[str, Callable[[Tuple[int, ...], Tuple[int, ...]], bool]] = {
    ">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b, "<": lambda a, b: a < b,
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
}


class FactError(Exception):
    """A malformed expression (a scenario error)."""


class Unknown(Exception):
    """The kernel's facts do not say (no config / System.map / version)."""


def tokenize(text: str) -> List[str]:
    """Split an expression into tokens."""
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            raise FactError(f"cannot parse {text!r} at {text[pos:]!r}")
        out.append(match.group(1))
        pos = match.end()
    return out


def _ver(text: str) -> Tuple[int, ...]:
    parts = tuple(int(x) for x in text.split("."))
    return parts + (0,) * (3 - len(parts))


class Evaluator:
    """Evaluates expressions against one kernel's facts."""

    def __init__(self, facts: Optional[KernelFacts],
                 named: Optional[Dict[str, str]] = None,
                 overrides: Optional[Dict[str, bool]] = None):
        self.facts = facts or KernelFacts()
        self.named = named or {}
        self.overrides = overrides or {}
        self.toks: List[str] = []
        self.depth = 0

    def check(self, text: str) -> None:
        """Parse without a kernel (scenario validation)."""
        saved = self.facts, self.overrides
        self.facts = KernelFacts(version=(0, 0, 0), config={})
        self.overrides = {n: True for n in self.named}
        try:
            self.eval(text)
        finally:
            self.facts, self.overrides = saved

    def eval(self, text: str) -> bool:
        """True/False, or Unknown."""
        saved = self.toks
        self.toks = tokenize(text)
        try:
            val = self._expr()
            if self.toks:
                raise FactError(f"unexpected {self.toks[0]!r} in {text!r}")
            return val
        finally:
            self.toks = saved

    def _next(self) -> str:
        if not self.toks:
            raise FactError("expression ends too early")
        return self.toks.pop(0)

    def _expr(self) -> bool:
        val = self._term()
        while self.toks and self.toks[0] == "or":
            self.toks.pop(0)
            rhs = self._term()
            val = val or rhs
        return val

    def _term(self) -> bool:
        val = self._factor()
        while self.toks and self.toks[0] == "and":
            self.toks.pop(0)
            rhs = self._factor()
            val = val and rhs
        return val

    def _factor(self) -> bool:
        tok = self._next()
        if tok == "not":
            return not self._factor()
        if tok == "(":
            val = self._expr()
            if self._next() != ")":
                raise FactError("missing ')'")
            return val
        return self._atom(tok)

    def _atom(self, tok: str) -> bool:
        if tok == "version":
            oper = self._next()
            if oper not in _OPS:
                raise FactError(f"version needs a comparison, got {oper!r}")
            want = _ver(self._next())
            if self.facts.version is None:
                raise Unknown("the kernel's version is unknown")
            return _OPS[oper](self.facts.version, want)
        if tok.startswith("CONFIG_"):
            name, _, value = tok.partition("=")
            if self.facts.config is None:
                raise Unknown(f"no kernel config to check {name}")
            have = self.facts.config.get(name)
            return have == value if value else have in ("y", "m")
        if tok.startswith("symbol:"):
            syms = self.facts.symbols()
            if syms is None:
                raise Unknown(f"no System.map to look up {tok[7:]}")
            return tok[7:] in syms
        if tok in self.overrides:
            return self.overrides[tok]
        if tok in self.named:
            self.depth += 1
            if self.depth > 10:
                raise FactError(f"fact {tok} refers to itself")
            try:
                return self.eval(self.named[tok])
            finally:
                self.depth -= 1
        raise FactError(f"unknown fact {tok!r}")


def describe_missing(expr: str, evaluator: Evaluator) -> str:
    """For 'cannot test: ...': the CONFIG options of `expr` that are not
    set, or the expression itself."""
    names = [t.partition("=")[0] for t in tokenize(expr)
             if t.startswith("CONFIG_")]
    missing = [n for n in names
               if evaluator.facts.config is not None and
               evaluator.facts.config.get(n) not in ("y", "m")]
    if missing and expr.strip() in names:
        return f"{', '.join(missing)} is not set"
    return f"kernel does not satisfy {expr!r}"
