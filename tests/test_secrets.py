"""Secret resolution on real files, FIFOs, devices, /proc, symlinks and environments."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.errors import SecretError
from reconciler.model import SecretRef
from reconciler.redact import Redactor
from reconciler.secrets import (
    MAX_SECRET_BYTES,
    SecretCache,
    SecretPolicy,
    check_ref,
    env_prefix,
    resolve_secret,
    secret_owner,
    shorter_prefix_orgs,
)

VALUE = "pa55-word-of-acme"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "secrets" / "orgs" / "acme").mkdir(parents=True)
    (tmp_path / "secrets" / "orgs" / "globex").mkdir(parents=True)
    return tmp_path / "secrets"


def policy(*roots: Path, shared: bool = False) -> SecretPolicy:
    return SecretPolicy(tuple(roots), shared)


def bounded(call: Callable[[], object], seconds: float = 5.0) -> object:
    """Run ``call`` in a thread; fail (instead of hanging the suite) if it blocks."""
    box: list[object] = []

    def run() -> None:
        try:
            box.append(call())
        except BaseException as exc:  # handed back to the test thread
            box.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "secret resolution blocked"
    return box[0]


def resolve_error(ref: SecretRef, pol: SecretPolicy, owner: str | None = None) -> str:
    got = bounded(lambda: resolve_secret(ref, {}, owner=owner, policy=pol))
    assert isinstance(got, SecretError), got
    return got.message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"pw\n", "pw"),
        (b"pw\r\n", "pw"),
        (b"pw\r", "pw"),
        (b"pw\n\n", "pw\n"),  # one trailing newline only
        (b" pw ", " pw "),
        ("pässwörd\n".encode(), "pässwörd"),
    ],
)
def test_regular_file_relative_and_absolute(root: Path, content: bytes, expected: str) -> None:
    (root / "orgs" / "acme" / "smtp").write_bytes(content)
    pol = policy(root)
    for file in ("orgs/acme/smtp", str(root / "orgs" / "acme" / "smtp")):
        assert resolve_secret(SecretRef(file=file), {}, owner="acme", policy=pol) == expected
    assert resolve_secret(SecretRef(file="orgs/acme/smtp"), {}, policy=pol) == expected


def test_second_root_and_largest_allowed_file(root: Path, tmp_path: Path) -> None:
    other = tmp_path / "creds"
    other.mkdir()
    (other / "big").write_bytes(b"x" * MAX_SECRET_BYTES)
    got = resolve_secret(SecretRef(file=str(other / "big")), {}, policy=policy(root, other))
    assert len(got) == MAX_SECRET_BYTES


def test_fifo_is_refused_without_blocking(root: Path) -> None:
    fifo = root / "orgs" / "acme" / "smtp"
    os.mkfifo(fifo)
    message = resolve_error(SecretRef(file=str(fifo)), policy(root), owner="acme")
    assert "FIFO" in message


def test_fifo_with_a_writer_waiting_is_refused_too(root: Path) -> None:
    """Even when a writer holds the FIFO open (a read would succeed), it is not read."""
    fifo = root / "pipe"
    os.mkfifo(fifo)
    fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
    try:
        os.write(fd, b"from-the-pipe\n")
        message = resolve_error(SecretRef(file=str(fifo)), policy(root))
    finally:
        os.close(fd)
    assert "FIFO" in message


def test_dev_zero_is_refused_without_reading() -> None:
    message = resolve_error(SecretRef(file="/dev/zero"), policy(Path("/dev")))
    assert "character device" in message


@pytest.mark.parametrize("file", ["/proc/self/environ", "/proc/self/cmdline", "/sys/kernel/mm"])
def test_proc_and_sys_are_refused_even_as_roots(file: str) -> None:
    if not Path(file).exists():
        pytest.skip(f"{file} does not exist on this kernel")
    pol = policy(Path("/proc/self"), Path("/sys"))
    message = resolve_error(SecretRef(file=file), pol)
    assert "outside the secret roots" in message


def test_outside_root_paths_are_refused_before_reading(root: Path, tmp_path: Path) -> None:
    shadow = tmp_path / "etc" / "shadow"
    shadow.parent.mkdir()
    shadow.write_text("root:$6$salt$hash:19000::::::\n")
    pol = policy(root)
    for file in (str(shadow), "/etc/shadow", "../etc/shadow", "/proc/self/environ"):
        violation = check_ref(SecretRef(file=file), None, pol)
        assert violation is not None and violation.rule == "secret.outside-roots", file
        assert "outside the secret roots" in resolve_error(SecretRef(file=file), pol)


def test_symlinks_are_judged_by_their_target(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.write_text("not-a-secret-for-anyone\n")
    (root / "orgs" / "acme" / "escape").symlink_to(outside)
    (root / "orgs" / "acme" / "environ").symlink_to("/proc/self/environ")
    (root / "orgs" / "acme" / "zero").symlink_to("/dev/zero")
    (root / "orgs" / "globex" / "smtp").write_text("globex-secret\n")
    (root / "orgs" / "acme" / "neighbour").symlink_to(root / "orgs" / "globex" / "smtp")
    (root / "orgs" / "acme" / "own").symlink_to(root / "orgs" / "acme" / "real")
    (root / "orgs" / "acme" / "real").write_text(VALUE)
    pol = policy(root)
    for name in ("escape", "environ", "zero"):
        ref = SecretRef(file=f"orgs/acme/{name}")
        assert "outside the secret roots" in resolve_error(ref, pol, owner="acme")
        assert "outside the secret roots" in resolve_error(ref, pol, owner=None)
    neighbour = SecretRef(file="orgs/acme/neighbour")
    violation = check_ref(neighbour, "acme", pol)
    assert violation is not None and violation.rule == "secret.scope"
    assert resolve_secret(neighbour, {}, owner=None, policy=pol) == "globex-secret"
    own = SecretRef(file="orgs/acme/own")
    assert resolve_secret(own, {}, owner="acme", policy=pol) == VALUE


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda p: p.mkdir(), "directory"),
        (lambda p: p.write_bytes(b"x" * (MAX_SECRET_BYTES + 1)), "larger than 64 KiB"),
        (lambda p: p.write_bytes(b"\xff\xfepw\n"), "not UTF-8"),
        (lambda p: p.write_bytes(b""), "empty"),
        (lambda p: p.write_bytes(b"\n"), "empty"),
        (lambda p: None, "No such file"),
    ],
    ids=["directory", "oversize", "non-utf8", "empty", "only-newline", "missing"],
)
def test_unusable_files(root: Path, make: Callable[[Path], object], needle: str) -> None:
    target = root / "orgs" / "acme" / "smtp"
    make(target)
    assert needle in resolve_error(SecretRef(file="orgs/acme/smtp"), policy(root), "acme")


def test_org_files_live_under_their_own_folder(root: Path) -> None:
    (root / "shared").write_text("host-only\n")
    pol = policy(root)
    for file in ("shared", "orgs/globex/smtp", "orgs/acme", "orgs/acme-corp/smtp"):
        violation = check_ref(SecretRef(file=file), "acme", pol)
        assert violation is not None and violation.rule == "secret.scope", file
        assert "orgs/acme/" in violation.message
    assert check_ref(SecretRef(file="shared"), None, pol) is None
    assert check_ref(SecretRef(file="shared"), "acme", policy(root, shared=True)) is None


@pytest.mark.parametrize(
    ("owner", "name", "allowed"),
    [
        ("acme", "ACME_SMTP_PASSWORD", True),
        ("acme", "ACME_", False),
        ("acme", "HOST_SMTP_PASSWORD", False),
        ("acme", "GLOBEX_SMTP_PASSWORD", False),
        ("acme", "acme_smtp_password", False),
        ("acme-corp", "ACME_CORP_SMTP_PASSWORD", True),
        ("acme-corp", "ACME_SMTP_PASSWORD", False),
        ("mailctl", "MAILCTL_PLATFORM_SMTP_PASSWORD", False),
        (None, "HOST_SMTP_PASSWORD", True),
        (None, "MAILCTL_PLATFORM_SMTP_PASSWORD", True),
    ],
)
def test_env_scoping(owner: str | None, name: str, allowed: bool) -> None:
    pol = policy(Path("/run/secrets"))
    violation = check_ref(SecretRef(env=name), owner, pol)
    assert (violation is None) is allowed
    if violation is not None:
        assert violation.rule == "secret.scope"
        assert env_prefix(str(owner)) in violation.message
    assert check_ref(SecretRef(env=name), owner, policy(Path("/x"), shared=True)) is None


def test_non_utf8_and_empty_environment_values(monkeypatch: pytest.MonkeyPatch) -> None:
    # os.environ holds the raw bytes as surrogate escapes; the real environment is used.
    monkeypatch.setenv("ACME_SMTP_PASSWORD", b"\xffpw".decode("utf-8", "surrogateescape"))
    monkeypatch.setenv("ACME_EMPTY", "")
    monkeypatch.setenv("ACME_GOOD", VALUE)
    pol = policy(Path("/run/secrets"))
    with pytest.raises(SecretError, match="not valid UTF-8"):
        resolve_secret(SecretRef(env="ACME_SMTP_PASSWORD"), owner="acme", policy=pol)
    with pytest.raises(SecretError, match="not set"):
        resolve_secret(SecretRef(env="ACME_EMPTY"), owner="acme", policy=pol)
    assert resolve_secret(SecretRef(env="ACME_GOOD"), owner="acme", policy=pol) == VALUE


def test_cache_never_reads_a_forbidden_secret_and_feeds_the_redactor(
    root: Path, tmp_path: Path
) -> None:
    (root / "orgs" / "acme" / "smtp").write_text(VALUE + "\n")
    environ = {"HOST_SMTP_PASSWORD": "host-secret-value", "ACME_SMTP_PASSWORD": "acme-env-pw"}
    red = Redactor()
    cache = SecretCache(b"k" * 32, environ, policy=policy(root), redactor=red)
    with pytest.raises(SecretError, match=r"\[secret.scope\]"):
        cache.value(SecretRef(env="HOST_SMTP_PASSWORD"), "acme")
    assert len(red) == 0 and cache.known_values() == []  # never read
    assert cache.value(SecretRef(env="HOST_SMTP_PASSWORD"), None) == "host-secret-value"
    assert cache.value(SecretRef(env="ACME_SMTP_PASSWORD"), "acme") == "acme-env-pw"
    assert cache.value(SecretRef(file="orgs/acme/smtp"), "acme") == VALUE
    assert len(red) == 3
    assert red(f"535 {VALUE} host-secret-value") == "535 *** ***"
    fp = cache.fingerprint(SecretRef(file="orgs/acme/smtp"), "acme")
    assert len(fp) == 32 and VALUE not in fp


def test_policy_from_settings(tmp_path: Path) -> None:
    assert SecretPolicy.from_settings(environ={}).roots == (Path("/run/secrets"),)
    creds = {"CREDENTIALS_DIRECTORY": "/run/credentials/mailctl.service"}
    assert SecretPolicy.from_settings(environ=creds).roots == (
        Path("/run/credentials/mailctl.service"),
    )
    env = {**creds, "MAILCTL_SECRETS_DIRS": "/a:/b::", "MAILCTL_SHARED_SECRETS": "1"}
    pol = SecretPolicy.from_settings(environ=env)
    assert pol.roots == (Path("/a"), Path("/b")) and pol.shared
    given = SecretPolicy.from_settings([tmp_path, "/c"], shared=False, environ=env)
    assert given.roots == (tmp_path, Path("/c")) and not given.shared


def test_secret_owner_follows_provenance() -> None:
    assert secret_owner("org/acme", {"smtp.auth.password": "org"}) == "acme"
    assert secret_owner("org/acme", {"smtp.auth.password": "host"}) is None
    assert secret_owner("org/acme", {"smtp.auth.password": "platform"}) is None
    assert secret_owner("org/acme", {}) == "acme"  # unknown provenance: the strict answer
    assert secret_owner("host", {"smtp.auth.password": "host"}) is None


# -- the longest prefix owns the variable ------------------------------------------------

KNOWN = {"host", "org/acme", "org/acme-corp", "org/acme-corp-eu", "org/a", "org/a--b"}


@pytest.mark.parametrize(
    ("owner", "name", "claimant"),
    [
        ("acme", "ACME_SMTP_PASSWORD", None),
        ("acme", "ACME_CORP_SMTP_PASSWORD", "acme-corp"),
        ("acme", "ACME_CORP_EU_SMTP_PASSWORD", "acme-corp-eu"),  # the longest, not the first
        ("acme-corp", "ACME_CORP_EU_SMTP_PASSWORD", "acme-corp-eu"),
        ("acme-corp", "ACME_CORP_SMTP_PASSWORD", None),
        ("acme-corp-eu", "ACME_CORP_EU_SMTP_PASSWORD", None),
        ("acme", "ACME_GLOBEX_PW", None),  # no org acme-globex: acme's own
        ("acme", "ACME_CORP_", None),  # ACME_CORP_ alone names no variable of acme-corp
        ("a", "A__B_PW", "a--b"),  # a--b → A__B_: the mapping is one-to-one
        ("a", "A_B_PW", None),  # org a-b is not known
        ("a", "A__PW", None),  # "a-" is no org name
    ],
)
def test_an_env_var_belongs_to_the_longest_known_prefix(
    owner: str, name: str, claimant: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(name, VALUE)  # the real environment
    pol = policy(Path("/run/secrets"))
    violation = check_ref(SecretRef(env=name), owner, pol, (KNOWN,))
    if claimant is None:
        assert violation is None
        assert resolve_secret(SecretRef(env=name), owner=owner, policy=pol, known=(KNOWN,))
        return
    assert violation is not None and violation.rule == "secret.scope"
    assert f"belongs to organization {claimant} ({env_prefix(claimant)}*" in violation.message
    with pytest.raises(SecretError, match=rf"belongs to organization {claimant} "):
        resolve_secret(SecretRef(env=name), owner=owner, policy=pol, known=(KNOWN,))
    # The owner of the longest prefix may use it; nobody is confined with --shared-secrets.
    assert check_ref(SecretRef(env=name), claimant, pol, (KNOWN,)) is None
    assert check_ref(SecretRef(env=name), owner, policy(Path("/x"), shared=True), (KNOWN,)) is None


def test_the_cache_forgets_an_allowance_when_a_longer_org_becomes_known(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ACME_CORP_SMTP_PASSWORD", "corp-Secret-value")
    red = Redactor()
    ref = SecretRef(env="ACME_CORP_SMTP_PASSWORD")
    # Refused before anything is read: the redactor never sees the value.
    strict = SecretCache(b"k" * 32, policy=policy(Path("/run/secrets")), redactor=red)
    strict.know({"org/acme", "org/acme-corp"})
    with pytest.raises(SecretError, match="belongs to organization acme-corp"):
        strict.value(ref, "acme")
    assert len(red) == 0 and strict.known_values() == []
    assert strict.value(ref, "acme-corp") == "corp-Secret-value"
    assert strict.value(ref, None) == "corp-Secret-value"  # the host may use any variable
    # Allowed while acme-corp is unknown; refused once the store or the configs name it.
    lax = SecretCache(b"k" * 32, policy=policy(Path("/run/secrets")), redactor=Redactor())
    lax.know({"org/acme"})
    assert lax.value(ref, "acme") == "corp-Secret-value"
    lax.know({"org/acme-corp": object()})  # any container of scope names (a store's records)
    with pytest.raises(SecretError, match=r"\[secret.scope\]"):
        lax.value(ref, "acme")


def test_shorter_prefix_orgs_are_the_ones_whose_variables_change_owner() -> None:
    assert shorter_prefix_orgs({"org/acme-corp-eu"}, KNOWN) == {"org/acme", "org/acme-corp"}
    assert shorter_prefix_orgs({"org/acme-corp", "host"}, KNOWN) == {"org/acme"}
    assert shorter_prefix_orgs({"org/a--b"}, KNOWN) == {"org/a"}
    assert shorter_prefix_orgs({"org/acme", "org/globex"}, KNOWN) == set()
