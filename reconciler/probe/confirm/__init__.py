"""Delivery confirmation (DESIGN §11): was the test message *received*, not only accepted?

After the SMTP stages pass, a backend (``imap`` or ``maildir``, each behind the small
``Mailbox`` protocol) looks for the message by its ``X-Mailctl-Probe`` header until
``withinMs`` runs out, then removes it. Polling starts fast and slows down (0.1 s, 0.25 s,
0.5 s, 1 s, then every 2 s): local delivery is seen within a fraction of a second, a
remote mailbox is not hammered.

Results: ``delivered`` (found in the mailbox), ``delivered_junk`` (found in the junk
mailbox: the probe passes, the result says where it landed), ``not_delivered`` (a failure
class: accepted by SMTP, never arrived; bounced, dropped or filtered). ``deliveryMs`` is
the time from the end of the SMTP session until the message was seen. A mailbox that
cannot be read fails the probe at stage ``confirm`` with a class of its own
(``confirm_auth_rejected``, ``confirm_mailbox``) or a transport class shared with SMTP
(``connect_refused``, ``tls_certificate``, ...).

Confirmation runs after the probe released its SMTP concurrency slot and is cancellable
at every poll, so it never holds up other probes or reconciliation.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Sequence

from reconciler.model import Confirm
from reconciler.probe import classify as C
from reconciler.probe.classes import FailureClass as F
from reconciler.probe.confirm.mailbox import Found, Mailbox
from reconciler.probe.result import ProbeResult

DELIVERED = "delivered"
DELIVERED_JUNK = "delivered_junk"
NOT_DELIVERED = str(F.NOT_DELIVERED)  # a delivery result and a failure class

POLL_SCHEDULE_S: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0, 2.0)

# Transport failures while reading the mailbox: IMAP wording (the classes' own hints
# speak of smtp.*). Confirmation classes use their own hints (``FailureClass.hint``).
_IMAP_HINTS: dict[F, str] = {
    F.CONNECT_REFUSED: (
        "Nothing accepts IMAP connections on {where}: check probe.confirm.imap.host and "
        "port (993 implicit TLS, 143 STARTTLS)."
    ),
    F.TLS_CERTIFICATE: (
        "The IMAP server's certificate is not trusted for probe.confirm.imap.host: trust "
        "its CA with --ca-file PEM (or the system store) and use the name it was issued for."
    ),
    F.TLS_HANDSHAKE: (
        "The TLS handshake with the IMAP server failed: check that "
        "probe.confirm.imap.tls matches the port (993 implicit, 143 starttls)."
    ),
    F.STARTTLS_UNAVAILABLE: (
        "The IMAP server does not offer STARTTLS and mailctl never logs in over "
        "plaintext: use tls: implicit on port 993."
    ),
    F.SECRET_UNRESOLVED: (
        "The IMAP password could not be read: provide the environment variable or file "
        "referenced by probe.confirm.imap.password to the mailctl process."
    ),
}
_DEFAULT_HINT = (
    "Reading the recipient's mailbox failed: check probe.confirm ({where}) and that "
    "the IMAP server is healthy."
)


_OWN_HINTS = frozenset({F.NOT_DELIVERED, F.CONFIRM_AUTH_REJECTED, F.CONFIRM_MAILBOX})


def hint_for(failure_class: F, where: str) -> str:
    if failure_class in _OWN_HINTS:
        return failure_class.hint.format(endpoint=where, port=0, stage="confirm")
    return _IMAP_HINTS.get(failure_class, _DEFAULT_HINT).format(where=where)


def backend_for(
    confirm: Confirm, password: str | None, ca_file: str | None, timeout: float
) -> Mailbox:
    if confirm.imap is not None:
        from reconciler.probe.confirm.imap import ImapMailbox

        return ImapMailbox(confirm.imap, password or "", ca_file, timeout)
    from reconciler.probe.confirm.maildir import MaildirMailbox

    return MaildirMailbox(str(confirm.maildir))


@dataclasses.dataclass(frozen=True, slots=True)
class Confirmation:
    delivery: str | None
    delivery_ms: float | None
    elapsed_ms: float
    where: str
    failure: C.Failure | None = None
    removed: bool = False


async def _poll(box: Mailbox, probe_id: str, deadline: float) -> Found | None:
    step = 0
    while True:
        found = await box.find(probe_id)
        if found is not None:
            return found
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        await asyncio.sleep(min(left, POLL_SCHEDULE_S[min(step, len(POLL_SCHEDULE_S) - 1)]))
        step += 1


async def confirm_delivery(
    confirm: Confirm,
    probe_id: str,
    *,
    password: str | None = None,
    ca_file: str | None = None,
    op_timeout_s: float = 30.0,
    mailbox: Mailbox | None = None,
) -> Confirmation:
    """Wait for the probe message, remove it, and say where (and when) it arrived."""
    started = time.monotonic()
    deadline = started + confirm.within_ms / 1000.0
    box = mailbox or backend_for(confirm, password, ca_file, op_timeout_s)
    where = box.describe()

    def elapsed() -> float:
        return round((time.monotonic() - started) * 1000.0, 3)

    try:
        await box.open()
        found = await _poll(box, probe_id, deadline)
        if found is None:
            return Confirmation(NOT_DELIVERED, None, elapsed(), where)
        seen = elapsed()
        await box.remove(found)
        delivery = DELIVERED_JUNK if found.where == "junk" else DELIVERED
        return Confirmation(delivery, seen, elapsed(), f"{where} {found.folder}", removed=True)
    except C.Failure as failure:
        return Confirmation(None, None, elapsed(), where, failure)
    finally:
        await box.close()


def apply_confirmation(
    result: ProbeResult, outcome: Confirmation, redact_values: Sequence[str | None] = ()
) -> ProbeResult:
    """The probe result with the confirmation's verdict folded in."""
    latency = {**result.latency_ms, "confirm": outcome.elapsed_ms}
    if outcome.delivery in (DELIVERED, DELIVERED_JUNK):
        note = "received" if outcome.delivery == DELIVERED else "received, but filed as junk"
        message = f"{result.message}; {note} in {outcome.where} after {outcome.delivery_ms} ms"
        return dataclasses.replace(
            result,
            stage="confirm",
            message=C.clean(message, extra=[v for v in redact_values if v]),
            latency_ms=latency,
            delivery=outcome.delivery,
            delivery_ms=outcome.delivery_ms,
            hint=(
                None
                if outcome.delivery == DELIVERED
                else "The test message landed in the junk folder: check the sender "
                "domain's SPF, DKIM and DMARC records and the message's reputation."
            ),
        )
    if outcome.failure is None:
        seconds = round(outcome.elapsed_ms / 1000.0, 1)
        failure = C.Failure(
            F.NOT_DELIVERED,
            f"accepted by the SMTP server but not received in {outcome.where} within {seconds} s",
        )
    else:
        failure = outcome.failure
    return dataclasses.replace(
        result,
        status="failed",
        stage="confirm",
        failure_class=failure.failure_class,
        code=failure.code if failure.code is not None else result.code,  # SMTP's 250
        message=C.clean(failure.message, extra=[v for v in redact_values if v]),
        hint=hint_for(failure.failure_class, outcome.where),
        latency_ms=latency,
        delivery=NOT_DELIVERED if outcome.failure is None else None,
        delivery_ms=None,
    )


async def confirm_result(
    result: ProbeResult,
    confirm: Confirm | None,
    *,
    password: str | None,
    password_error: str | None = None,
    ca_file: str | None = None,
) -> ProbeResult:
    """Confirm a passed probe that sent its message; any other result is returned as is."""
    if confirm is None or not result.passed or not result.sent:
        return result
    if confirm.imap is not None and password is None:
        failure = C.Failure(
            F.SECRET_UNRESOLVED,
            password_error or "the IMAP password (probe.confirm.imap.password) is not set",
        )
        where = f"imap://{confirm.imap.host}:{confirm.imap.port}"
        return apply_confirmation(result, Confirmation(None, None, 0.0, where, failure))
    outcome = await confirm_delivery(confirm, result.probe_id, password=password, ca_file=ca_file)
    return apply_confirmation(result, outcome, [password])
