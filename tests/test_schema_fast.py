"""The compiled schema check (``schema_fast``) never calls a bad manifest valid, so bad
files keep exactly jsonschema's diagnostics; and valid manifests take the fast path."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest

from reconciler import schemas
from reconciler.model import HOST_KIND, ORG_KIND
from reconciler.reader import read_text
from reconciler.schema_fast import Unsupported, compile_schema
from reconciler.schemas import _fast_checks, _validators, schema_diagnostics

REPO = Path(__file__).resolve().parent.parent

LEAVES: tuple[Any, ...] = (
    None,
    True,
    False,
    0,
    1,
    25,
    465,
    587,
    65535,
    65536,
    -1,
    999,
    1000,
    600000,
    600001,
    1.5,
    587.0,
    "",
    "x",
    "acme",
    "acme\n",
    "Acme",
    "-acme",
    "a" * 64,
    "a" * 300,
    "smtp.example.com",
    "127.0.0.1",
    "::1",
    "[::1]",
    "a b",
    "default",
    "custom",
    "starttls",
    "implicit",
    "none",
    "user@example.com",
    "user@",
    "@x",
    "mailctl/v1",
    "mailctl/v2",
    HOST_KIND,
    ORG_KIND,
    "INBOX",
    "/var/mail/probe",
    "relative/path",
    "https://h/t",
    "http://127.0.0.1/t",
    "ORG_X",
    "lower_env",
    {},
    [],
    {"env": "ACME_SMTP_PASSWORD"},
    {"file": "orgs/acme/smtp"},
    {"env": "A", "file": "b"},
    {"env": ""},
    {"value": "x"},
    {"host": "h"},
    {"maildir": "/m"},
    {"address": "a@b.c"},
    {"mode": "default"},
)
KEYS = (
    "mode",
    "smtp",
    "from",
    "probe",
    "auth",
    "host",
    "port",
    "tls",
    "domain",
    "timeoutMs",
    "username",
    "password",
    "oauth2",
    "to",
    "confirm",
    "imap",
    "maildir",
    "withinMs",
    "ehloName",
    "address",
    "displayName",
    "name",
    "targetIds",
    "extra",
    "env",
    "file",
    "clientSecret",
    "tokenUrl",
    "clientId",
    "scope",
    "mailbox",
    "junk",
)


_KINDS = (HOST_KIND, ORG_KIND, "OrchestratorTarget", "WebhookTarget")


def _documents() -> list[dict[str, Any]]:
    docs = []
    for folder in ("configs", "examples"):
        for path in sorted((REPO / folder).rglob("*.y*ml")):
            doc = read_text(path.read_text(), str(path)).document
            data = doc.data if doc is not None else None
            if isinstance(data, dict) and data.get("kind") in _KINDS:
                docs.append(data)
    return docs


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*path, k))
    return out


def _mutate(rng: random.Random, data: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(data)
    for _ in range(rng.randint(1, 2)):
        path = rng.choice(_paths(data)[1:])
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        op = rng.random()
        if op < 0.55:
            parent[path[-1]] = copy.deepcopy(rng.choice(LEAVES))
        elif op < 0.75:
            del parent[path[-1]]
        elif isinstance(parent[path[-1]], dict):
            parent[path[-1]][rng.choice(KEYS)] = copy.deepcopy(rng.choice(LEAVES))
        else:
            parent[rng.choice(KEYS)] = copy.deepcopy(rng.choice(LEAVES))
        if not data:
            break
    return data


def test_the_shipped_schemas_compile() -> None:
    assert set(_fast_checks()) == set(_KINDS)


def test_compiled_check_never_passes_what_jsonschema_rejects() -> None:
    rng = random.Random(11)
    docs = _documents()
    assert len(docs) >= 5
    valid = fast_valid = invalid = 0
    for _ in range(8000):
        data = _mutate(rng, rng.choice(docs))
        kind = data.get("kind")
        if kind not in _KINDS:
            continue
        errors = list(_validators()[kind].iter_errors(data))
        fast = _fast_checks()[kind](data)
        assert not (fast and errors), (data, [e.message for e in errors])
        if errors:
            invalid += 1
        else:
            valid += 1
            fast_valid += fast
    assert invalid > 1000 and valid > 300
    # The one-sided contract holds trivially for "always False": it must not be that (the
    # few valid ones it leaves to jsonschema hold a float such as 587.0 as an integer).
    assert fast_valid >= valid * 0.95


def test_bad_files_get_exactly_jsonschemas_diagnostics(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(5)
    docs = _documents()
    bad = []
    for _ in range(400):
        data = _mutate(rng, rng.choice(docs))
        if isinstance(data.get("kind"), str) and list(
            _validators().get(data["kind"], _validators()[ORG_KIND]).iter_errors(data)
        ):
            bad.append(data)
    assert len(bad) > 100
    texts = [json.dumps(d, indent=1) for d in bad]  # JSON is YAML: positions included
    with_fast = [schema_diagnostics(read_text(t, "bad.yaml").document) for t in texts]  # type: ignore[arg-type]
    monkeypatch.setattr(schemas, "_fast_checks", lambda: {})
    without = [schema_diagnostics(read_text(t, "bad.yaml").document) for t in texts]  # type: ignore[arg-type]
    assert with_fast == without
    assert all(with_fast)


def test_unknown_keywords_leave_the_schema_to_jsonschema() -> None:
    with pytest.raises(Unsupported):
        compile_schema({"$id": "https://x/s.json", "patternProperties": {"a": {}}}, {})
    with pytest.raises(Unsupported):
        compile_schema({"$id": "https://x/s.json", "$ref": "other.json"}, {})


def test_type_and_const_semantics_are_json_schemas() -> None:
    docs: dict[str, Any] = {}
    check = compile_schema(
        {
            "$id": "https://x/s.json",
            "type": "object",
            "properties": {
                "n": {"type": "integer", "minimum": 1, "maximum": 3},
                "c": {"const": 1},
                "b": {"enum": [True, "x"]},
                "p": {"type": "string", "pattern": "^[a-z]+$"},
            },
        },
        docs,
    )
    assert check({"n": 2, "c": 1, "b": True, "p": "abc"})
    assert not check({"n": True})  # a boolean is no integer
    assert not check({"c": True})  # True is not 1
    assert not check({"b": 1})
    assert not check({"p": "abc\n"})  # ECMA '$': no trailing-newline bypass
    assert not check({"n": 4}) and not check({"n": 0})
    assert not check({"n": 2.0})  # left to jsonschema (which accepts it)
