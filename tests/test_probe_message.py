"""The probe's envelope addresses and test message, byte for byte where it matters."""

from __future__ import annotations

import email
import email.policy
import re

import pytest

from reconciler.model import Effective, Sender, SmtpSettings
from reconciler.probe.message import AddressError, build_message, envelope_for, wire_address


def settings(sender: str, to: str | None, name: str | None = "Platform Notifications") -> Effective:
    return Effective(
        smtp=SmtpSettings(host="smtp.example.test", port=587),
        sender=Sender(sender, name),
        probe_to=to,
    )


@pytest.mark.parametrize(
    ("address", "wire", "smtputf8"),
    [
        ("notify@example.test", "notify@example.test", False),
        ("probe@exämple.test", "probe@xn--exmple-cua.test", False),
        ("probe@BÜCHER.example", "probe@xn--bcher-kva.example", False),
        ("prøbe@example.test", "prøbe@example.test", True),
        ("jörg@müller.test", "jörg@xn--mller-kva.test", True),
    ],
)
def test_wire_address(address: str, wire: str, smtputf8: bool) -> None:
    assert wire_address(address) == (wire, smtputf8)


def test_invalid_idn_domain_is_an_address_error() -> None:
    with pytest.raises(AddressError, match="IDNA"):
        wire_address("a@bad\u200d\u0300domain.test")


def test_envelope_needs_smtputf8_for_either_address() -> None:
    assert not envelope_for(settings("a@exämple.test", "b@example.test")).smtputf8
    assert envelope_for(settings("a@example.test", "bö@example.test")).smtputf8
    assert envelope_for(settings("ä@example.test", None)).recipient is None


def _parse(raw: bytes) -> email.message.EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, email.message.EmailMessage)
    return msg


def test_message_is_rfc5322_clean() -> None:
    raw = build_message(
        settings("notify@exämple.test", "probe@example.test", "Zoë, Ops"), "host", "abc123"
    )
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    assert b"\r" not in raw.replace(b"\r\n", b"")
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")  # non-ASCII names are encoded
    head = head.replace("\r\n", "\n")
    assert re.search(r"^Date: \w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}$", head, re.M)
    assert "GMT" not in head and "-0000" not in head
    assert re.search(r"^Message-ID: <abc123\.\d+@xn--exmple-cua\.test>$", head, re.M)
    assert "\nAuto-Submitted: auto-generated\n" in head
    assert "From: =?utf-8?" in head and "<notify@xn--exmple-cua.test>" in head
    msg = _parse(raw)
    assert str(msg["From"].addresses[0].display_name) == "Zoë, Ops"
    assert msg["X-Mailctl-Probe"] == "abc123"
    assert msg["Subject"] == "mailctl probe host abc123"
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content_charset() == "utf-8"
    assert "probe: abc123" in msg.get_content()


@pytest.mark.parametrize(
    ("name", "header"),
    [
        ("Platform Notifications", "From: Platform Notifications <n@example.test>"),
        ("Ops, Inc.", 'From: "Ops, Inc." <n@example.test>'),
        ('Say "hi"', 'From: "Say \\"hi\\"" <n@example.test>'),
        (None, "From: n@example.test"),
        ("Evil\r\nBcc: x@y.test", 'From: "Evil Bcc: x@y.test" <n@example.test>'),
    ],
)
def test_display_name_quoting(name: str | None, header: str) -> None:
    raw = build_message(settings("n@example.test", "p@example.test", name), "host", "id1")
    lines = raw.split(b"\r\n\r\n", 1)[0].decode().split("\r\n")
    assert header in lines
    assert not any(line.startswith("Bcc:") for line in lines)


def test_smtputf8_addresses_stay_utf8_in_headers() -> None:
    raw = build_message(settings("n@example.test", "prøbe@example.test"), "host", "id2")
    assert "To: prøbe@example.test\r\n".encode() in raw
