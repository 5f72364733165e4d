"""Loading the JSON Schemas (the source of truth for manifest shape) and mapping their
errors to positioned diagnostics."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from reconciler.diagnostics import Diagnostic, PathT, Severity, json_path
from reconciler.ecma_regex import ecma_search
from reconciler.model import (
    HOST_KIND,
    ORCHESTRATOR_TARGET_KIND,
    ORG_KIND,
    WEBHOOK_TARGET_KIND,
)
from reconciler.reader import Document
from reconciler.schema_fast import Check, Unsupported, compile_schema

SCHEMA_FILES = {
    HOST_KIND: "host.schema.json",
    ORG_KIND: "org.schema.json",
    ORCHESTRATOR_TARGET_KIND: "orchestrator-target.schema.json",
    WEBHOOK_TARGET_KIND: "webhook-target.schema.json",
}


def schema_dir() -> Path:
    """The schemas shipped in the wheel, or the repository's ``schemas/`` in a checkout."""
    here = Path(__file__).resolve().parent  # the package folder, as resources.files gives
    packaged = here / "schemas"
    return packaged if packaged.is_dir() else here.parent / "schemas"


_ANNOTATIONS = frozenset({"$ref", "description", "examples", "title", "$comment"})


@dataclass(frozen=True, slots=True)
class _KindValidator:
    """A manifest schema, optionally split into the envelope and a memoised ``spec`` part.

    Validating ``spec`` on its own against the subschema its ``$ref`` names gives the same
    errors (paths prefixed with ``spec``) without a registry lookup per document, and lets
    identical specs (every ``mode: default`` org) be validated once per run.
    """

    top: Any
    spec: Any | None

    def iter_errors(self, data: dict[str, Any]) -> Iterator[Any]:
        yield from self.top.iter_errors(data)
        if self.spec is None or "spec" not in data:
            return
        spec = data["spec"]
        key = json.dumps(spec, sort_keys=True)
        errors = _SPEC_MEMO.get((id(self), key))
        if errors is None:
            errors = list(self.spec.iter_errors(spec))
            for error in errors:
                error.path.appendleft("spec")
            if len(_SPEC_MEMO) >= _SPEC_MEMO_MAX:
                _SPEC_MEMO.clear()
            _SPEC_MEMO[(id(self), key)] = errors
        yield from errors


_SPEC_MEMO: dict[tuple[int, str], list[Any]] = {}
_SPEC_MEMO_MAX = 4096


def _ecma_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
    """``pattern`` with ECMA-262 semantics (``$`` = end of input), as editors apply it."""
    from jsonschema import ValidationError

    if validator.is_type(instance, "string") and not ecma_search(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


@cache
def _validator_class() -> Any:
    from jsonschema import Draft202012Validator, validators

    return validators.extend(  # type: ignore[no-untyped-call]
        Draft202012Validator, {"pattern": _ecma_pattern}
    )


@cache
def _validators() -> dict[str, _KindValidator]:
    from referencing import Registry, Resource

    validator_cls = _validator_class()

    folder = schema_dir()
    loaded = {p.name: json.loads(p.read_text("utf-8")) for p in folder.glob("*.schema.json")}
    registry: Registry[Any] = Registry().with_resources(
        (doc["$id"], Resource.from_contents(doc)) for doc in loaded.values()
    )
    out = {}
    for kind, name in SCHEMA_FILES.items():
        schema = loaded[name]
        spec_schema = schema.get("properties", {}).get("spec", {})
        whole = validator_cls(schema, registry=registry)
        if not (isinstance(spec_schema.get("$ref"), str) and set(spec_schema) <= _ANNOTATIONS):
            out[kind] = _KindValidator(whole, None)
            continue
        target = registry.resolver(base_uri=schema["$id"]).lookup(spec_schema["$ref"]).contents
        envelope = {**schema, "properties": {**schema["properties"], "spec": {}}}
        # ``evolve`` keeps the whole schema's resolver, so the spec's own ``#/$defs/...``
        # references resolve against the document they were written in.
        out[kind] = _KindValidator(
            validator_cls(envelope, registry=registry), whole.evolve(schema=target)
        )
    return out


@cache
def _fast_checks() -> dict[str, Check]:
    """The compiled yes/no checks per kind (none for a schema the fast path cannot
    compile: then jsonschema validates every document of that kind)."""
    folder = schema_dir()
    by_name = {p.name: json.loads(p.read_text("utf-8")) for p in folder.glob("*.schema.json")}
    documents = {d["$id"]: d for d in by_name.values() if isinstance(d.get("$id"), str)}
    out: dict[str, Check] = {}
    for kind, name in SCHEMA_FILES.items():
        try:
            out[kind] = compile_schema(by_name[name], documents)
        except Unsupported:
            continue
    return out


def schema_diagnostics(doc: Document) -> list[Diagnostic]:
    """Schema errors of one document, each positioned and with a hint."""
    data = doc.data
    if not isinstance(data, dict):
        line, col = doc.pos(())
        return [
            Diagnostic(
                doc.file,
                line,
                col,
                "$",
                "schema.type",
                Severity.ERROR,
                f"a manifest must be a mapping, not {_type_name(data)}",
                "start from examples/ or configs/: apiVersion, kind, metadata, spec",
            )
        ]
    kind = data.get("kind")
    fast = _fast_checks().get(kind) if isinstance(kind, str) else None
    if fast is not None and fast(data):
        return []  # valid: jsonschema would report nothing (see schema_fast)
    validator = _validators().get(kind) if isinstance(kind, str) else None
    if validator is None:
        path: PathT = ("kind",)
        line, col = doc.pos(path) if "kind" in data else doc.pos(())
        got = "no kind" if "kind" not in data else f"kind {kind!r}"
        return [
            Diagnostic(
                doc.file,
                line,
                col,
                json_path(path),
                "schema.kind",
                Severity.ERROR,
                f"{got}: expected {HOST_KIND} or {ORG_KIND}",
                f"set 'kind: {HOST_KIND}' for the host or 'kind: {ORG_KIND}' for an org",
            )
        ]
    out: list[Diagnostic] = []
    for error in validator.iter_errors(data):
        out.extend(_convert(doc, error))
    return out


def _type_name(value: Any) -> str:
    return {
        dict: "a mapping",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
    }.get(type(value), "null")


_REQUIRED = re.compile(r"'([^']+)' is a required property")


def _convert(doc: Document, error: Any) -> Iterator[Diagnostic]:
    path: PathT = tuple(error.absolute_path)
    keyword: str = error.validator
    schema = error.schema if isinstance(error.schema, dict) else {}
    described = _describe(schema)

    def diag(rule: str, message: str, hint: str, at: PathT, key: bool = False) -> Diagnostic:
        line, col = doc.key_pos(at) if key else doc.pos(at)
        return Diagnostic(doc.file, line, col, json_path(at), rule, Severity.ERROR, message, hint)

    field = ".".join(str(p) for p in path) or "document"
    if keyword == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        for extra in sorted(set(error.instance) - set(allowed)):
            import difflib  # only for a bad file

            close = difflib.get_close_matches(extra, allowed, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"allowed here: {', '.join(allowed)}"
            yield diag(
                "schema.unknown-property",
                f"unknown property '{extra}' in {field}",
                hint,
                (*path, extra),
                key=True,
            )
        return
    if keyword == "required":
        match = _REQUIRED.search(error.message)
        missing = match.group(1) if match else "?"
        where = f"{field} " if path else ""
        yield diag(
            "schema.required",
            f"{where}is missing required property '{missing}'".strip(),
            _required_hint(path, missing, doc.data),
            path,
        )
        return
    if keyword is None or (keyword == "not" and error.validator_value == {}):
        name = str(path[-1]) if path else field
        yield diag(
            "schema.forbidden",
            f"'{field}' is not allowed here"
            + (" with mode: default" if path[:1] == ("spec",) else ""),
            f"remove '{name}', or set 'mode: custom' to use your own settings",
            path,
            True,
        )
        return
    if _is_password(path) and isinstance(error.instance, str | int | float):
        yield diag(
            "secret.literal",
            f"{path[-1]} is a literal value; secrets must not live in manifests",
            "use 'password: {env: VAR_NAME}' or 'password: {file: /run/secrets/smtp}'"
            if path[-1] == "password"
            else f"use '{path[-1]}: {{env: VAR_NAME}}' or '{path[-1]}: {{file: PATH}}'",
            path,
        )
        return
    if _in_password(path):
        # Never echo what sits under a password: it may be the secret itself.
        if keyword in ("minProperties", "maxProperties"):
            yield diag(
                "secret.ref",
                f"{field} must name exactly one of 'env' or 'file'",
                "use 'password: {env: VAR_NAME}' or 'password: {file: /run/secrets/smtp}'",
                path,
            )
            return
        message, rule = _message(keyword, error, field, hide_value=True)
        yield diag(rule, message, described, path)
        return
    message, rule = _message(keyword, error, field)
    yield diag(rule, message, described, path)


# (parent, key) of every secret reference in a manifest.
_SECRET_KEYS = frozenset(
    {
        ("auth", "password"),
        ("imap", "password"),
        ("oauth2", "clientSecret"),
        ("spec", "clientSecret"),  # OrchestratorTarget
        ("spec", "secret"),  # WebhookTarget
    }
)


def _is_password(path: PathT) -> bool:
    return len(path) >= 2 and (path[-2], path[-1]) in _SECRET_KEYS


def _in_password(path: PathT) -> bool:
    return any(_is_password(path[: i + 1]) for i in range(1, len(path)))


def _required_hint(path: PathT, missing: str, data: Any) -> str:
    if path == ("spec",) and missing in ("smtp", "from"):
        return f"mode 'custom' needs '{missing}'; or set 'mode: default' to inherit"
    if missing == "metadata" or path == ("metadata",):
        return "an org manifest needs 'metadata: {name: <dns-label>}'"
    return f"add '{missing}'"


def _message(keyword: str, error: Any, field: str, hide_value: bool = False) -> tuple[str, str]:
    value = error.instance
    if hide_value:
        shown = "(value hidden)"
    elif isinstance(value, dict | list):
        shown = _type_name(value)
    else:
        shown = json.dumps(value)
    if keyword == "type":
        expected = error.validator_value
        got = _type_name(value)
        if value is not None and not isinstance(value, dict | list) and not hide_value:
            got = f"{got} {shown}"
        msg = f"{field} must be {_article(expected)}, got {got}"
        if isinstance(value, str) and value[:1] == "0" and value.isdigit():
            msg += " (a leading zero is no octal in YAML 1.2: it stays a string)"
        return msg, "schema.type"
    if keyword == "enum":
        options = ", ".join(str(v) for v in error.validator_value)
        return f"{field} is {shown}; must be one of: {options}", "schema.enum"
    if keyword == "const":
        return f"{field} is {shown}; must be {json.dumps(error.validator_value)}", "schema.const"
    if keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        low = error.schema.get("minimum")
        high = error.schema.get("maximum")
        return f"{field} is {shown}; must be between {low} and {high}", "schema.range"
    if keyword == "pattern":
        return f"{field} {shown} has the wrong form", "schema.pattern"
    if keyword in ("minLength", "maxLength"):
        return f"{field} {shown} is too short or too long", "schema.length"
    if keyword in ("oneOf", "anyOf"):
        return f"{field} must be exactly one of the allowed forms", "schema.one-of"
    if hide_value:
        return f"{field} is not allowed ({keyword})", f"schema.{keyword}"
    return f"{field}: {error.message}", f"schema.{keyword}"


def _article(expected: Any) -> str:
    names = expected if isinstance(expected, list) else [expected]
    words = {"object": "a mapping", "array": "a list", "integer": "an integer"}
    return " or ".join(words.get(n, f"a {n}") for n in names)


def _describe(schema: dict[str, Any]) -> str:
    desc = str(schema.get("description", "")).strip()
    examples = schema.get("examples")
    if examples:
        desc = f"{desc} (e.g. {json.dumps(examples[0])})".strip()
    return desc or "see schemas/ for the allowed shape"
