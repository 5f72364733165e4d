"""Probe benchmark: mailctl's probe vs smtplib, CPU per probe and concurrent throughput.

    python bench/bench_probe.py                      # CPU scenario, then 0 and 10 ms latency
    python bench/bench_probe.py --latency-ms 10      # one throughput scenario only
    python bench/bench_probe.py --probes 0           # the CPU scenario only
    python bench/bench_probe.py --cpu-probes 0 --probes 200 --servers 5 --tls none

**CPU per probe** (``--cpu-probes N``, default 300, 0 skips it): N sequential probes, one
after the other, against one local server without latency, by mailctl's engine
(``reconciler.probe.probe`` awaited in a loop inside one event loop) and by ``smtplib``
doing the same dialogue; each side's cost is the client process's CPU time
(``time.process_time``; the server runs in its own process). Repeated ``--cpu-rounds``
times, alternating, medians reported. ``--cpu-floor`` adds the same dialogue on aiosmtplib
alone and on bare asyncio streams (``open_connection`` + ``start_tls``): what the asyncio
TLS layer and aiosmtplib cost before any mailctl code runs.

**Throughput:**

N distinct probes (distinct credentials, so nothing deduplicates) are spread round-robin
over S local aiosmtpd servers, each in its own process on 127.0.0.1. Every probe does the
same work in both clients: connect, EHLO, STARTTLS (``--tls starttls``, verified against a
generated CA), EHLO, AUTH, MAIL FROM, RCPT TO, DATA (the real probe message), QUIT. The
servers count delivered messages, and the run fails unless both clients delivered all N.

The per-host bound keys on the SMTP host name; all bench servers are 127.0.0.1 (only
loopback is used), so ``--per-host`` defaults to 32 = ``--concurrency``: the same
effective bound as 20 distinct hosts with the production default of 4 each (20 x 4 > 32).
With ``--per-host 4`` all 1,000 probes queue behind one host's 4 slots.

``--latency-ms`` makes every server reply (each final reply line, banner included) wait
that long, simulating the round trip to a real SMTP server; 0 means raw loopback. By
default the benchmark runs with 0 and with 10 ms. Public tools only: aiosmtpd, aiosmtplib,
smtplib.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import multiprocessing as mp
import os
import platform
import smtplib
import socket
import ssl
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

import aiosmtplib

from reconciler.devtools.sink import generate_certificate, quiet_aiosmtpd_log
from reconciler.model import Auth, Effective, SecretRef, Sender, SmtpSettings
from reconciler.probe import ProbeTarget, build_message, probe, probe_outcomes
from reconciler.probe.connection import tls_context

LOOPBACK = "127.0.0.1"
SENDER = "notify@bench.test"
RECIPIENT = "probe@bench.test"


def _password(user: str) -> str:
    return f"pw-{user}-secret"


def _serve(
    port: int,
    latency_s: float,
    cert: str | None,
    key: str | None,
    counter: Synchronized[int],
    ready: Any,
    stop: Any,
) -> None:
    """One aiosmtpd server process: AUTH accepts user/_password(user)."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

    class SlowSMTP(SMTP):  # type: ignore[misc]
        async def push(self, status: Any) -> None:
            if latency_s and str(status)[3:4] != "-":
                await asyncio.sleep(latency_s)
            await super().push(status)

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            with counter.get_lock():
                counter.value += 1
            return "250 OK"

    def authenticator(server: Any, session: Any, envelope: Any, mech: str, data: Any) -> Any:
        if isinstance(data, LoginPassword):
            user = data.login.decode()
            if data.password.decode() == _password(user):
                return AuthResult(success=True, auth_data=user)
        return AuthResult(success=False, handled=False)

    class Ctl(Controller):  # type: ignore[misc]
        def factory(self) -> Any:
            return SlowSMTP(self.handler, **self.SMTP_kwargs)

    kwargs: dict[str, Any] = {
        "hostname": LOOPBACK,
        "port": port,
        "server_hostname": "bench.local",
        "authenticator": authenticator,
        "auth_require_tls": cert is not None,
    }
    if cert and key:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        kwargs["tls_context"] = ctx
    quiet_aiosmtpd_log()
    ctl = Ctl(Handler(), **kwargs)
    ctl.start()
    ready.set()
    stop.wait()
    ctl.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


@dataclass
class Fleet:
    ports: list[int]
    counters: list[Synchronized[int]]
    procs: list[Any]
    stop: Any

    def delivered(self) -> int:
        return sum(c.value for c in self.counters)

    def shutdown(self) -> None:
        self.stop.set()
        for proc in self.procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()
                proc.join()


def start_fleet(n: int, latency_s: float, cert: str | None, key: str | None) -> Fleet:
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    ports, counters, procs, readies = [], [], [], []
    for _ in range(n):
        port, counter, ready = _free_port(), ctx.Value("i", 0), ctx.Event()
        proc = ctx.Process(
            target=_serve, args=(port, latency_s, cert, key, counter, ready, stop), daemon=True
        )
        proc.start()
        ports.append(port)
        counters.append(counter)
        procs.append(proc)
        readies.append(ready)
    for ready in readies:
        if not ready.wait(timeout=30):
            raise SystemExit("a benchmark server did not start")
    return Fleet(ports, counters, procs, stop)


def make_targets(n: int, ports: list[int], tls: str) -> list[ProbeTarget]:
    targets = []
    for i in range(n):
        user = f"user{i:05d}"
        settings = Effective(
            smtp=SmtpSettings(
                host=LOOPBACK,
                port=ports[i % len(ports)],
                tls=tls,  # type: ignore[arg-type]
                timeout_ms=30_000,
                auth=Auth(user, SecretRef(env="UNUSED")),
            ),
            sender=Sender(SENDER, "Bench"),
            probe_to=RECIPIENT,
        )
        targets.append(ProbeTarget(f"org/o{i:05d}", settings, _password(user)))
    return targets


def _dialogues(
    targets: list[ProbeTarget], tag: str
) -> Iterator[tuple[SmtpSettings, str, str, bytes]]:
    """Per target, as the loop reaches it: its SMTP settings, user name, password and the
    probe message (built there, so a timed loop pays for it like mailctl's engine does)."""
    for target in targets:
        s = target.settings.smtp
        assert s.auth is not None and target.password is not None
        yield s, s.auth.username, target.password, build_message(target.settings, target.scope, tag)


def _cpu_s(work: Callable[[], Coroutine[Any, Any, None]]) -> float:
    """Process CPU seconds of ``asyncio.run(work())``."""
    start = time.process_time()
    asyncio.run(work())
    return time.process_time() - start


def run_async(targets: list[ProbeTarget], ca: str | None, conc: int, per_host: int) -> float:
    start = time.perf_counter()
    outcomes = asyncio.run(probe_outcomes(targets, ca_file=ca, concurrency=conc, per_host=per_host))
    elapsed = time.perf_counter() - start
    failed = [o.result for o in outcomes if not o.result.passed]
    if len(outcomes) != len(targets) or failed:
        raise SystemExit(f"async: {len(failed)} failed, e.g. {failed[:1]}")
    return elapsed


def run_sequential(targets: list[ProbeTarget], ca: str | None) -> float:
    ctx = ssl.create_default_context(cafile=ca) if ca else None
    start = time.perf_counter()
    for s, user, password, message in _dialogues(targets, "seq"):
        with smtplib.SMTP(s.host, s.port, timeout=30) as client:
            client.ehlo()
            if s.tls == "starttls":
                client.starttls(context=ctx)
                client.ehlo()
            client.login(user, password)
            client.sendmail(SENDER, [RECIPIENT], message)
    return time.perf_counter() - start


def cpu_mailctl(targets: list[ProbeTarget], ca: str | None) -> float:
    """Client CPU seconds for mailctl's engine probing ``targets`` one after the other."""

    async def sequential() -> None:
        for target in targets:
            result = await probe(
                target.settings, target.password, scope_label=target.scope, ca_file=ca
            )
            if not result.passed:
                raise SystemExit(f"mailctl: {result}")

    return _cpu_s(sequential)


def cpu_aiosmtplib(targets: list[ProbeTarget], ca: str | None) -> float:
    """Client CPU seconds for the same dialogue on aiosmtplib alone (no mailctl code)."""
    ctx = tls_context(ca)

    async def sequential() -> None:
        for s, user, password, message in _dialogues(targets, "floor"):
            smtp = aiosmtplib.SMTP(hostname=s.host, port=s.port, start_tls=False)
            await smtp.connect()
            await smtp.ehlo()
            await smtp.starttls(tls_context=ctx, server_hostname="localhost")
            await smtp.ehlo()
            await smtp.auth_plain(user, password)
            await smtp.sendmail(SENDER, [RECIPIENT], message)
            await smtp.quit()

    return _cpu_s(sequential)


async def _reply(reader: asyncio.StreamReader, expect: bytes) -> None:
    while True:
        line = await reader.readline()
        if line[3:4] != b"-":
            break
    if not line.startswith(expect):
        raise SystemExit(f"bare asyncio: expected {expect!r}, got {line!r}")


def cpu_bare_asyncio(targets: list[ProbeTarget], ca: str | None) -> float:
    """Client CPU seconds for the same dialogue written straight on asyncio streams and
    its TLS (``start_tls``): the floor any asyncio SMTP client stands on."""
    ctx = tls_context(ca)

    async def sequential() -> None:
        for s, user, password, message in _dialogues(targets, "floor"):
            blob = base64.b64encode(f"\0{user}\0{password}".encode())
            reader, writer = await asyncio.open_connection(s.host, s.port)
            await _reply(reader, b"220")
            for line, expect in ((b"EHLO bench.example", b"250"), (b"STARTTLS", b"220")):
                writer.write(line + b"\r\n")
                await _reply(reader, expect)
            await writer.start_tls(ctx, server_hostname="localhost")
            dialogue = (
                (b"EHLO bench.example", b"250"),
                (b"AUTH PLAIN " + blob, b"235"),
                (f"MAIL FROM:<{SENDER}>".encode(), b"250"),
                (f"RCPT TO:<{RECIPIENT}>".encode(), b"250"),
                (b"DATA", b"354"),
                (message.replace(b"\r\n.", b"\r\n..") + b"\r\n.", b"250"),
                (b"QUIT", b"221"),
            )
            for line, expect in dialogue:
                writer.write(line + b"\r\n")
                await _reply(reader, expect)
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()

    return _cpu_s(sequential)


def cpu_smtplib(targets: list[ProbeTarget], ca: str | None) -> float:
    start = time.process_time()
    run_sequential(targets, ca)
    return time.process_time() - start


def cpu_scenario(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    cert = key = ca = None
    if args.tls == "starttls":
        ca = str(workdir / "ca.pem")
        cert, key = generate_certificate(ca, ("localhost", LOOPBACK))
    fleet = start_fleet(1, 0.0, cert, key)
    clients = {"mailctl": cpu_mailctl, "smtplib": cpu_smtplib}
    if args.cpu_floor and args.tls == "starttls":
        clients.update(aiosmtplib=cpu_aiosmtplib, bare_asyncio=cpu_bare_asyncio)
    cpu: dict[str, list[float]] = {name: [] for name in clients}
    try:
        targets = make_targets(args.cpu_probes, fleet.ports, args.tls)
        for client in clients.values():  # warm-up: imports, caches, first handshake
            client(targets[:10], ca)
        for _ in range(args.cpu_rounds):  # alternating, so load drifts hit every client
            for name, client in clients.items():
                cpu[name].append(client(targets, ca))
    finally:
        fleet.shutdown()
    ms = {name: statistics.median(v) / args.cpu_probes * 1000 for name, v in cpu.items()}
    row: dict[str, Any] = {
        "scenario": "cpu",
        "probes": args.cpu_probes,
        "rounds": args.cpu_rounds,
        "tls": args.tls,
    }
    for name, value in ms.items():
        row[f"{name}_cpu_ms_per_probe"] = round(value, 3)
        if name != "smtplib":
            key = "ratio" if name == "mailctl" else f"{name}_ratio"
            row[key] = round(value / ms["smtplib"], 2)
    return row


def scenario(args: argparse.Namespace, latency_ms: float, workdir: Path) -> dict[str, Any]:
    cert = key = ca = None
    if args.tls == "starttls":
        ca = str(workdir / "ca.pem")
        cert, key = generate_certificate(ca, ("localhost", LOOPBACK))
    fleet = start_fleet(args.servers, latency_ms / 1000.0, cert, key)
    try:
        targets = make_targets(args.probes, fleet.ports, args.tls)
        t_async = run_async(targets, ca, args.concurrency, args.per_host)
        after_async = fleet.delivered()
        t_seq = run_sequential(targets, ca)
        after_seq = fleet.delivered() - after_async
    finally:
        fleet.shutdown()
    if after_async != args.probes or after_seq != args.probes:
        raise SystemExit(f"delivered async={after_async} sequential={after_seq}")
    return {
        "latency_ms": latency_ms,
        "probes": args.probes,
        "servers": args.servers,
        "tls": args.tls,
        "concurrency": args.concurrency,
        "per_host": args.per_host,
        "async_s": round(t_async, 3),
        "sequential_s": round(t_seq, 3),
        "async_probes_per_s": round(args.probes / t_async, 1),
        "sequential_probes_per_s": round(args.probes / t_seq, 1),
        "speedup": round(t_seq / t_async, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--probes", type=int, default=1000)
    parser.add_argument("--servers", type=int, default=20)
    parser.add_argument("--tls", choices=["starttls", "none"], default="starttls")
    parser.add_argument("--concurrency", type=int, default=32)
    # All servers share the address 127.0.0.1, i.e. one "SMTP host" for the per-host
    # bound; 32 (= --concurrency) makes that bound equivalent to 20 distinct hosts x 4.
    parser.add_argument("--per-host", type=int, default=32)
    parser.add_argument(
        "--latency-ms",
        type=float,
        action="append",
        help="simulated per-reply server latency; repeatable (default: 0 and 10)",
    )
    parser.add_argument("--cpu-probes", type=int, default=300)
    parser.add_argument("--cpu-rounds", type=int, default=5)
    parser.add_argument(
        "--cpu-floor",
        action="store_true",
        help="also time the dialogue on aiosmtplib alone and on bare asyncio streams",
    )
    parser.add_argument("--json", action="store_true", help="print JSON lines only")
    args = parser.parse_args(argv)
    latencies = args.latency_ms if args.latency_ms is not None else [0.0, 10.0]
    if not args.json:
        print(
            f"# {platform.python_implementation()} {platform.python_version()} on "
            f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs"
        )
    if args.cpu_probes:
        with tempfile.TemporaryDirectory(prefix="mailctl-bench-") as tmp:
            row = cpu_scenario(args, Path(tmp))
        if args.json:
            print(json.dumps(row))
        else:
            print(
                f"CPU per sequential probe ({row['probes']} probes, {row['tls']}, median of "
                f"{row['rounds']}): mailctl {row['mailctl_cpu_ms_per_probe']:.2f} ms, "
                f"smtplib {row['smtplib_cpu_ms_per_probe']:.2f} ms, ratio {row['ratio']:.2f}",
                flush=True,
            )
            if "bare_asyncio_ratio" in row:
                print(
                    f"  floor: aiosmtplib alone {row['aiosmtplib_cpu_ms_per_probe']:.2f} ms "
                    f"(ratio {row['aiosmtplib_ratio']:.2f}), bare asyncio streams "
                    f"{row['bare_asyncio_cpu_ms_per_probe']:.2f} ms "
                    f"(ratio {row['bare_asyncio_ratio']:.2f})",
                    flush=True,
                )
    if args.probes <= 0:  # --probes 0: the CPU scenario only
        return 0
    if not args.json:
        print(
            f"{'latency':>8} {'probes':>6} {'servers':>7} {'tls':>8} "
            f"{'mailctl async':>14} {'smtplib seq':>12} {'speedup':>8}"
        )
    results = []
    with tempfile.TemporaryDirectory(prefix="mailctl-bench-") as tmp:
        for latency in latencies:
            row = scenario(args, latency, Path(tmp))
            results.append(row)
            if args.json:
                print(json.dumps(row))
            else:
                print(
                    f"{latency:>6.1f}ms {row['probes']:>6} {row['servers']:>7} {row['tls']:>8} "
                    f"{row['async_s']:>12.2f} s {row['sequential_s']:>10.2f} s "
                    f"{row['speedup']:>7.1f}x",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
