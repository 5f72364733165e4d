"""WebhookTarget: a real receiver on loopback verifies each document's signature (the
recipe of docs/targets.md) and sees one document per change, secret references only."""

from __future__ import annotations

import json

from tests.fixtures_targets import (
    GLOBEX_PASSWORD,
    HOOK_SECRET,
    HOST_PASSWORD,
    Receiver,
    TargetRig,
    host_yaml,
)


def test_each_scope_arrives_signed_once_with_secret_references_only(
    hooked: TargetRig, receiver: Receiver
) -> None:
    hooked.apply()
    assert receiver.rejected == 0
    by_scope = {d["scope"]: d for d in receiver.documents}
    assert sorted(by_scope) == ["host", "org/acme", "org/globex", "org/umbrella"]
    assert len(receiver.documents) == 4
    host = by_scope["host"]
    assert host["format_version"] == "1.0"
    assert host["settings"]["smtp.auth.password"] == "env:HOST_SMTP_PASSWORD"
    assert host["settings"]["smtp.host"] == "smtp.provider.example"
    assert host["fingerprint"] and host["revision"]
    raw = json.dumps(receiver.documents)
    assert HOST_PASSWORD not in raw and GLOBEX_PASSWORD not in raw and HOOK_SECRET not in raw
    _, status = hooked.status()
    assert all(s["conditions"]["Synced/hook"]["status"] == "True" for s in status["scopes"])


def test_one_document_per_change(hooked: TargetRig, receiver: Receiver) -> None:
    hooked.apply()
    receiver.documents.clear()
    hooked.apply()
    assert receiver.documents == []  # nothing changed: nothing sent
    hooked.repo.write("host.yaml", host_yaml(host="smtp2.provider.example"))
    hooked.apply()
    assert sorted(d["scope"] for d in receiver.documents) == ["host", "org/acme", "org/umbrella"]
    receiver.documents.clear()
    hooked.env["HOST_SMTP_PASSWORD"] = "host-Rotated.Canary~hook"
    hooked.apply()
    # a rotation changes the fingerprint, not the settings: the scopes using it are sent
    assert sorted(d["scope"] for d in receiver.documents) == ["host", "org/acme", "org/umbrella"]


def test_a_wrong_key_is_refused_by_the_receiver_and_reported(
    hooked: TargetRig, receiver: Receiver
) -> None:
    hooked.env["HOOK_SECRET"] = "not-the-shared-key"
    out = hooked.apply(expect=3)
    assert receiver.rejected == 4 and receiver.documents == []
    failed = out["targets"]["targets"][0]["failed"]
    assert {f["reason"] for f in failed} == {"Unauthorized"}
