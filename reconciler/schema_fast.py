"""A compiled yes/no check of the manifest JSON Schemas: the fast path for valid files.

Almost every manifest is valid, and for a valid one jsonschema's work (a validator object
per keyword, ``$ref`` lookups, error generators) buys nothing: the answer is "no errors".
:func:`compile_schema` turns a schema into nested Python closures that only answer *is this
instance valid?*; a manifest that passes gets no diagnostics without importing jsonschema at
all (one-file ``validate`` in a pre-commit hook), and one that fails is validated again by
jsonschema (:mod:`reconciler.schemas`), so every diagnostic of a bad file is exactly what
it was.

The contract is one-sided: ``check(x)`` is True only if jsonschema reports no error for
``x``. Where a keyword's JSON Schema semantics would need care that the manifests never need
(a float where an integer is expected, ``const`` of a non-scalar), the check answers False
and jsonschema decides. A keyword this module does not know makes :func:`compile_schema`
raise :class:`Unsupported`; the caller then always uses jsonschema.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urldefrag, urljoin

from reconciler.ecma_regex import compile_ecma

Check = Callable[[Any], bool]

# Keywords that never affect validity (annotations and structure).
_IGNORED = frozenset(
    {
        "$schema",
        "$id",
        "$defs",
        "$comment",
        "title",
        "description",
        "examples",
        "default",
        "deprecated",
        "readOnly",
        "writeOnly",
        # "then"/"else" are compiled together with "if"
        "then",
        "else",
    }
)


def _property_names(names: Check) -> Check:
    return lambda x: type(x) is not dict or all(names(k) for k in x)


class Unsupported(Exception):
    """The schema uses something the fast path does not compile."""


def _is_number(x: Any) -> bool:
    return type(x) is int or type(x) is float


def _type_check(names: list[str]) -> Check:
    """JSON Schema ``type``; conservative for floats that would count as integers."""
    accepted: set[type] = set()
    for name in names:
        if name == "object":
            accepted.add(dict)
        elif name == "array":
            accepted.add(list)
        elif name == "string":
            accepted.add(str)
        elif name == "integer":
            accepted.add(int)  # a float like 5.0 also is one: jsonschema decides those
        elif name == "number":
            accepted.update((int, float))
        elif name == "boolean":
            accepted.add(bool)
        elif name == "null":
            accepted.add(type(None))
        else:
            raise Unsupported(f"type {name!r}")
    frozen = frozenset(accepted)
    return lambda x: type(x) in frozen


_SCALARS = (str, int, bool, type(None))


def _scalar_equal(value: Any) -> Check:
    """``const``/``enum`` equality for JSON scalars (``True`` is not ``1``)."""
    if type(value) not in _SCALARS:
        raise Unsupported("const/enum of a non-scalar")
    kind = type(value)
    return lambda x: type(x) is kind and x == value


class _Compiler:
    def __init__(self, documents: Mapping[str, Any]) -> None:
        self.documents = documents  # $id -> schema document
        self.refs: dict[str, Check] = {}

    def resolve(self, base: str, ref: str) -> tuple[str, Any]:
        uri, fragment = urldefrag(urljoin(base, ref))
        doc = self.documents.get(uri)
        if doc is None:
            raise Unsupported(f"unknown $ref {ref!r}")
        node = doc
        if fragment:
            if not fragment.startswith("/"):
                raise Unsupported(f"$ref anchor {ref!r}")
            for part in fragment[1:].split("/"):
                part = part.replace("~1", "/").replace("~0", "~")
                if isinstance(node, list):
                    node = node[int(part)]
                elif isinstance(node, dict) and part in node:
                    node = node[part]
                else:
                    raise Unsupported(f"unresolvable $ref {ref!r}")
        return uri, node

    def ref(self, base: str, ref: str) -> Check:
        uri, target = self.resolve(base, ref)
        key = urljoin(base, ref)
        found = self.refs.get(key)
        if found is not None:
            return found
        slot: list[Check] = []
        self.refs[key] = lambda x: slot[0](x)  # recursion-safe placeholder
        compiled = self.compile(target, uri)
        slot.append(compiled)
        self.refs[key] = compiled
        return compiled

    def compile(self, schema: Any, base: str) -> Check:
        if schema is True or schema == {}:
            return lambda x: True
        if schema is False:
            return lambda x: False
        if not isinstance(schema, dict):
            raise Unsupported("schema is not an object")
        if isinstance(schema.get("$id"), str):
            base = urljoin(base, schema["$id"])
        checks: list[Check] = []
        for key, value in schema.items():
            if key in _IGNORED:
                continue
            if key == "$ref":
                checks.append(self.ref(base, value))
            elif key == "type":
                checks.append(_type_check(value if isinstance(value, list) else [value]))
            elif key == "const":
                checks.append(_scalar_equal(value))
            elif key == "enum":
                checks.append(_any_of([_scalar_equal(v) for v in value]))
            elif key in ("minLength", "maxLength", "pattern"):
                checks.append(_string_check(key, value))
            elif key in ("minimum", "maximum"):
                checks.append(_number_check(key, value))
            elif key in ("minProperties", "maxProperties"):
                checks.append(_size_check(key, value))
            elif key == "required":
                checks.append(_required(tuple(value)))
            elif key == "properties":
                checks.append(self._properties(schema, base))
            elif key == "additionalProperties":
                if "properties" not in schema:
                    checks.append(self._properties(schema, base))
            elif key == "propertyNames":  # metadata.targetIds: keys are target names
                checks.append(_property_names(self.compile(value, base)))
            elif key == "allOf":
                checks.append(_all_of([self.compile(s, base) for s in value]))
            elif key == "oneOf":
                checks.append(_one_of([self.compile(s, base) for s in value]))
            elif key == "anyOf":
                checks.append(_any_of([self.compile(s, base) for s in value]))
            elif key == "not":
                checks.append(_not(self.compile(value, base)))
            elif key == "if":
                checks.append(self._conditional(schema, base))
            else:
                raise Unsupported(f"keyword {key!r}")
        return _all_of(checks)

    def _properties(self, schema: dict[str, Any], base: str) -> Check:
        props = {k: self.compile(v, base) for k, v in schema.get("properties", {}).items()}
        extra = schema.get("additionalProperties", True)
        closed = extra is False
        other = None if extra is True or closed else self.compile(extra, base)

        def check(x: Any) -> bool:
            if type(x) is not dict:
                return True
            for key, value in x.items():
                sub = props.get(key)
                if sub is not None:
                    if not sub(value):
                        return False
                elif closed or (other is not None and not other(value)):
                    return False
            return True

        return check

    def _conditional(self, schema: dict[str, Any], base: str) -> Check:
        cond = self.compile(schema["if"], base)
        then = self.compile(schema.get("then", True), base)
        otherwise = self.compile(schema.get("else", True), base)
        return lambda x: then(x) if cond(x) else otherwise(x)


def _all_of(checks: list[Check]) -> Check:
    if not checks:
        return lambda x: True
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda x: first(x) and second(x)
    frozen = tuple(checks)

    def check(x: Any) -> bool:
        for c in frozen:  # noqa: SIM110 - a plain loop: no generator per call (hot path)
            if not c(x):
                return False
        return True

    return check


def _any_of(checks: list[Check]) -> Check:
    frozen = tuple(checks)
    return lambda x: any(c(x) for c in frozen)


def _one_of(checks: list[Check]) -> Check:
    frozen = tuple(checks)
    return lambda x: sum(1 for c in frozen if c(x)) == 1


def _not(check: Check) -> Check:
    return lambda x: not check(x)


def _required(names: tuple[str, ...]) -> Check:
    return lambda x: type(x) is not dict or all(k in x for k in names)


def _string_check(key: str, value: Any) -> Check:
    if key == "pattern":
        regex = compile_ecma(value)
        return lambda x: type(x) is not str or regex.search(x) is not None
    if type(value) is not int:
        raise Unsupported(f"{key} {value!r}")
    if key == "minLength":
        return lambda x: type(x) is not str or len(x) >= value
    return lambda x: type(x) is not str or len(x) <= value


def _number_check(key: str, value: Any) -> Check:
    if not _is_number(value):
        raise Unsupported(f"{key} {value!r}")
    if key == "minimum":
        return lambda x: not _is_number(x) or x >= value
    return lambda x: not _is_number(x) or x <= value


def _size_check(key: str, value: Any) -> Check:
    if type(value) is not int:
        raise Unsupported(f"{key} {value!r}")
    if key == "minProperties":
        return lambda x: type(x) is not dict or len(x) >= value
    return lambda x: type(x) is not dict or len(x) <= value


def compile_schema(schema: dict[str, Any], documents: Mapping[str, Any]) -> Check:
    """The yes/no check of ``schema``; ``documents`` maps every ``$id`` a ``$ref`` may name
    to its schema. Raises :class:`Unsupported` for what it cannot compile faithfully."""
    try:
        return _Compiler(documents).compile(schema, str(schema.get("$id", "")))
    except (KeyError, IndexError, ValueError, TypeError, AttributeError) as exc:
        raise Unsupported(str(exc)) from exc
