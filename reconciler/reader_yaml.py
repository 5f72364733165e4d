"""The reader's full path: libyaml composes, :class:`_Builder` types and positions.

Used for every text the fast path (:mod:`reconciler.reader_fast`) does not take, so for
every bad file: its diagnostics come from here. The safety rules are the reader's
(:mod:`reconciler.reader`): no implicit resolvers (YAML 1.2 scalars), core tags only,
duplicate keys rejected, aliases, node count and depth capped.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from reconciler.diagnostics import PathT
from reconciler.document import (
    MAX_ALIASES,
    MAX_DEPTH,
    MAX_NODES,
    Document,
    Pos,
    ReadResult,
)
from reconciler.document import read_error as _error
from reconciler.reader_fast import plain_scalar as _plain

try:  # libyaml is much faster; the pure-Python parser behaves the same
    from yaml._yaml import CParser as _Parser
except ImportError:  # pragma: no cover - depends on the PyYAML build
    from yaml.composer import Composer
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Parser(Reader, Scanner, Parser, Composer):  # type: ignore[no-redef]
        def __init__(self, stream: str) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)
            Composer.__init__(self)


_TAG = "tag:yaml.org,2002:"
_PLAIN = "tag:mailctl.dev,2024:plain"  # an untagged plain scalar (typed by ``_plain``)
_STR, _MAP, _SEQ = f"{_TAG}str", f"{_TAG}map", f"{_TAG}seq"
_KEY_TAGS = frozenset({_PLAIN, _STR, f"{_TAG}int"})


class _Resolver(yaml.resolver.BaseResolver):
    """No implicit resolvers at all: every untagged scalar arrives as a string."""

    yaml_implicit_resolvers: dict[Any, Any] = {}  # noqa: RUF012 - class attribute by design

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        # Untagged plain scalars get their own tag, so an explicit '!!str 587' stays a string.
        if kind is ScalarNode and implicit[0]:
            return _PLAIN
        return super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]


class _Loader(_Parser, _Resolver):
    def __init__(self, stream: str) -> None:
        _Parser.__init__(self, stream)
        _Resolver.__init__(self)


class _Reject(Exception):
    def __init__(self, rule: str, message: str, hint: str, pos: Pos, path: PathT = ()) -> None:
        super().__init__(message)
        self.rule, self.message, self.hint, self.pos, self.path = rule, message, hint, pos, path


def read_yaml(text: str, name: str) -> ReadResult:
    """Any text, through libyaml and :class:`_Builder`."""
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        if "expected a single document" in str(exc.context):
            return _error(
                name,
                "yaml.multi-document",
                "file holds more than one YAML document",
                "keep one manifest per file; remove the '---' separator",
                pos,
            )
        problem = exc.problem or str(exc)
        return _error(
            name, "yaml.syntax", f"YAML syntax error: {problem}", _syntax_hint(problem), pos
        )
    except yaml.YAMLError as exc:
        return _error(name, "yaml.syntax", f"YAML error: {exc}", "fix the YAML syntax")
    except RecursionError:
        return _error(name, "yaml.too-deep", "document nests too deeply", "flatten the document")
    if node is None or (isinstance(node, ScalarNode) and node.value == "" and not node.style):
        # no document at all, or only '---' (an explicit but empty document)
        return _error(
            name, "yaml.empty", "file is empty (no YAML document)", "write a manifest or delete it"
        )
    builder = _Builder()
    try:
        data = builder.build(node, ())
    except _Reject as rej:
        return _error(name, rej.rule, rej.message, rej.hint, rej.pos, rej.path)
    return ReadResult(Document(name, data, builder.positions, builder.key_positions), ())


def _syntax_hint(problem: str) -> str:
    if "tab" in problem:
        return "indent with spaces, not tabs"
    if "mapping values are not allowed" in problem:
        return "a value containing ': ' must be quoted"
    return "check indentation and quoting around this position"


def _mark(node: Node) -> Pos:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _Builder:
    """Turns a composed node graph into plain data, with positions and safety caps."""

    def __init__(self) -> None:
        self.positions: dict[PathT, Pos] = {}
        self.key_positions: dict[PathT, Pos] = {}
        self.seen: set[int] = set()
        self.aliases = 0
        self.nodes = 0
        self.alias_at: PathT | None = None

    def build(self, node: Node, path: PathT) -> Any:
        self.nodes += 1
        at = self.alias_at
        if at is not None and path[: len(at)] != at:
            self.alias_at = at = None  # left the alias expansion
        if id(node) in self.seen:
            self.aliases += 1
            if at is None:
                self.alias_at = path
        else:
            self.seen.add(id(node))
        if self.aliases > MAX_ALIASES or self.nodes > MAX_NODES or len(path) > MAX_DEPTH:
            raise self._cap(node, path)
        mark = node.start_mark
        self.positions[path] = (mark.line + 1, mark.column + 1)
        cls = type(node)
        if cls is ScalarNode:
            return self._scalar(node, path)  # type: ignore[arg-type]
        if cls is MappingNode:
            if node.tag != _MAP:
                self._check_tag(node, "map", path)
            return self._mapping(node, path)  # type: ignore[arg-type]
        if cls is SequenceNode:
            if node.tag != _SEQ:
                self._check_tag(node, "seq", path)
            return [self.build(child, (*path, i)) for i, child in enumerate(node.value)]
        raise _Reject("yaml.syntax", "unsupported YAML node", "", _mark(node), path)

    def _where(self, node: Node) -> Pos:
        """Inside an alias expansion, the node's own mark is the anchor's: point at the use."""
        at = self.alias_at
        if at is None:
            return _mark(node)
        return self.key_positions.get(at) or self.positions.get(at[:-1], (1, 1))

    def _cap(self, node: Node, path: PathT) -> _Reject:
        if self.aliases > MAX_ALIASES:
            return _Reject(
                "yaml.aliases",
                f"more than {MAX_ALIASES} alias references",
                "manifests need no anchors/aliases; write values out",
                self._where(node),
                path,
            )
        too_many = self.nodes > MAX_NODES
        return _Reject(
            "yaml.too-large" if too_many else "yaml.too-deep",
            "document expands to too many nodes" if too_many else "document nests too deeply",
            "manifests are small; remove the aliases or nesting",
            self._where(node),
            path,
        )

    def _mapping(self, node: MappingNode, path: PathT) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if type(key_node) is not ScalarNode or key_node.tag not in _KEY_TAGS:
                raise _Reject(
                    "yaml.key-type",
                    "mapping keys must be plain strings",
                    "use a simple word as the key",
                    _mark(key_node),
                    path,
                )
            key = key_node.value
            if key in out:
                first = self.key_positions[(*path, key)]
                raise _Reject(
                    "yaml.duplicate-key",
                    f"duplicate key '{key}' (first defined at line {first[0]})",
                    "remove one of them; YAML would silently keep only the last",
                    _mark(key_node),
                    (*path, key),
                )
            sub = (*path, key)
            mark = key_node.start_mark
            self.key_positions[sub] = (mark.line + 1, mark.column + 1)
            out[key] = self.build(value_node, sub)
        return out

    def _check_tag(self, node: Node, kind: str, path: PathT) -> None:
        if node.tag != f"{_TAG}{kind}":
            raise _Reject(
                "yaml.tag",
                f"unsupported YAML tag '{node.tag}'",
                "remove the tag; manifests use plain YAML",
                _mark(node),
                path,
            )

    def _scalar(self, node: ScalarNode, path: PathT) -> Any:
        value: str = node.value
        tag = node.tag
        if tag == _PLAIN:
            return _plain(value)
        if tag == _STR:
            return value  # quoted, block, or explicitly tagged: always a string
        typed = _plain(value)
        expected = {f"{_TAG}int": int, f"{_TAG}float": float, f"{_TAG}bool": bool}.get(tag)
        if tag == f"{_TAG}null" and typed is None:
            return None
        if expected is not None and type(typed) is expected:
            return typed
        raise _Reject(
            "yaml.tag",
            f"unsupported YAML tag '{tag}'",  # no value: it could be a secret
            "remove the tag; manifests use plain YAML",
            _mark(node),
            path,
        )
