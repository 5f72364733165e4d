"""``OrchestratorTarget``: UiPath Orchestrator's Identity settings API (DESIGN §12).

Built from UiPath's public API guide (Identity Server "Settings": Get settings / Update
settings; "External Applications (OAuth)"):

- token: ``POST {tokenUrl}`` form ``grant_type=client_credentials``, ``client_id``,
  ``client_secret``, ``scope`` (the confidential External Application with the application
  scopes ``PM.Setting PM.Setting.Read PM.Setting.Write``), answer ``{access_token,
  expires_in, token_type: Bearer}``. Cached until 60 s before expiry, only in memory, added
  to the redactor: never stored, logged or printed.
- write: ``PUT {url}{identityPath}/api/Setting`` with ``{"settings": [{"key", "value"}],
  "partitionGlobalId"}``; the host's partition is ``spec.hostPartitionGlobalId``, an org's
  its ``metadata.targetIds.<target>``.
- read (drift): ``GET {url}{identityPath}/api/Setting?partitionGlobalId=…&key=…&key=…``,
  answer a JSON array of ``{key, value}``.

Only the keys that differ are written; ``Email.Smtp.Password`` only when the scope's
secret fingerprint changed since the last successful sync (never read back or compared).
Scopes whose settings come from the platform defaults are left to Orchestrator's own
defaults (``PlatformDefault``). 401 → one token refresh; 429/5xx → backoff honouring
``Retry-After``; 403 → ``Forbidden`` (see :mod:`.http`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets as pysecrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlencode

from reconciler.errors import SecretError, TargetError
from reconciler.model import HOST_SCOPE, ORCHESTRATOR_TARGET_KIND, OAuth2, SecretRef
from reconciler.redact import REDACTOR
from reconciler.secrets import secret_owner
from reconciler.store import ScopeRecord

from .base import PLATFORM_DEFAULT, Outcome, SyncContext, Want, Work, fan_out
from .http import HttpClient, call
from .manifest import TargetManifest
from .state import SyncState

DEFAULT_IDENTITY_PATH = "/identity_"
DEFAULT_SCOPE = "PM.Setting PM.Setting.Read PM.Setting.Write"
DEFAULT_TIMEOUT_MS = 30_000
DEFAULT_CONCURRENCY = 8
REFRESH_MARGIN_S = 60.0

KEY_HOST = "Email.Smtp.Host"
KEY_PORT = "Email.Smtp.Port"
KEY_DOMAIN = "Email.Smtp.Domain"
KEY_SSL = "Email.Smtp.EnableSsl"
KEY_DEFAULT_CREDS = "Email.Smtp.UseDefaultCredentials"
KEY_USER = "Email.Smtp.UserName"
KEY_PASSWORD = "Email.Smtp.Password"
KEY_FROM = "Email.Smtp.FromEmail"
KEY_FROM_NAME = "Email.Smtp.FromDisplayName"
VALUE_KEYS = (
    KEY_HOST,
    KEY_PORT,
    KEY_DOMAIN,
    KEY_SSL,
    KEY_DEFAULT_CREDS,
    KEY_USER,
    KEY_FROM,
    KEY_FROM_NAME,
)


def mapped_values(flat: Mapping[str, Any]) -> dict[str, str]:
    """The Orchestrator keys (password excluded) for a scope's flat effective settings."""
    user = flat.get("smtp.auth.username")
    return {
        KEY_HOST: str(flat["smtp.host"]),
        KEY_PORT: str(flat["smtp.port"]),
        KEY_DOMAIN: str(flat.get("smtp.domain") or ""),
        KEY_SSL: "false" if flat.get("smtp.tls") == "none" else "true",
        KEY_DEFAULT_CREDS: "false" if user else "true",
        KEY_USER: str(user or ""),
        KEY_FROM: str(flat["from.address"]),
        KEY_FROM_NAME: str(flat.get("from.displayName") or ""),
    }


# ---------------------------------------------------------------- tokens


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    expires_at: float


class TokenCache:
    """Client-credentials tokens per (tokenUrl, clientId, scope, keyed hash of the secret),
    reused until ``REFRESH_MARGIN_S`` before expiry; one fetch at a time per key."""

    def __init__(self) -> None:
        self._key = pysecrets.token_bytes(32)
        self._tokens: dict[tuple[str, ...], _Token] = {}
        self._locks: dict[tuple[str, ...], threading.Lock] = {}
        self._guard = threading.Lock()
        self.fetches = 0

    def _k(self, oauth: OAuth2, secret: str) -> tuple[str, ...]:
        digest = hmac.new(self._key, secret.encode(), hashlib.sha256).hexdigest()
        return (oauth.token_url, oauth.client_id, oauth.scope, digest)

    def get(
        self, oauth: OAuth2, secret: str, *, ca_file: str | None, timeout: float, stale: str = ""
    ) -> str:
        """A valid token; ``stale`` (a token the API refused) forces a new one."""
        from reconciler.probe.engine import tls_context
        from reconciler.probe.oauth2 import TokenError, fetch_token

        key = self._k(oauth, secret)
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            cached = self._tokens.get(key)
            if (
                cached is not None
                and cached.value != stale
                and time.monotonic() < cached.expires_at
            ):
                return cached.value
            started = time.monotonic()
            try:
                value, expires_in = fetch_token(
                    oauth, secret, context=tls_context(ca_file), timeout=timeout
                )
            except TokenError as exc:
                reason = "Unreachable" if exc.error == "unreachable" else "TokenFailed"
                if "certificate verify failed" in exc.description:
                    reason = "TlsCertificate"
                raise TargetError(
                    reason,
                    REDACTOR(str(exc)),
                    hint="check clientId, clientSecret and that the External Application "
                    "has the application scopes PM.Setting PM.Setting.Read PM.Setting.Write",
                ) from exc
            except (OSError, ValueError) as exc:
                raise TargetError("TlsCertificate", f"cannot load --ca-file: {exc}") from exc
            self.fetches += 1
            REDACTOR.add([value])
            margin = min(REFRESH_MARGIN_S, expires_in / 2)
            self._tokens[key] = _Token(value, started + expires_in - margin)
            return value

    def clear(self) -> None:
        with self._guard:
            self._tokens.clear()


TOKENS = TokenCache()


# ---------------------------------------------------------------- the target


class OrchestratorTarget:
    kind: ClassVar[str] = ORCHESTRATOR_TARGET_KIND

    def __init__(self, manifest: TargetManifest, tokens: TokenCache = TOKENS) -> None:
        spec = manifest.spec
        self.name = manifest.name
        self.url = str(spec["url"]).rstrip("/")
        self.identity_path = "/" + str(spec.get("identityPath", DEFAULT_IDENTITY_PATH)).strip("/")
        self.api = f"{self.url}{self.identity_path}/api/Setting"
        self.oauth = OAuth2(
            str(spec.get("tokenUrl") or f"{self.url}{self.identity_path}/connect/token"),
            str(spec["clientId"]),
            str(spec.get("scope", DEFAULT_SCOPE)),
        )
        self.client_secret: SecretRef = manifest.secret_ref("clientSecret")
        self.host_partition = str(spec["hostPartitionGlobalId"])
        self.timeout_s = int(spec.get("timeoutMs", DEFAULT_TIMEOUT_MS)) / 1000
        self.concurrency = int(spec.get("concurrency", DEFAULT_CONCURRENCY))
        self.tokens = tokens

    # ------------------------------------------------------------ want (pure)

    def want(
        self, record: ScopeRecord, target_ids: Mapping[str, str] | None, known: str | None
    ) -> Want:
        flat = record.effective
        if record.scope == HOST_SCOPE:
            partition: str | None = self.host_partition
        elif target_ids is not None:
            partition = target_ids.get(self.name)
        else:
            partition = known  # manifest unreadable now: keep the last known partition
        if record.sources.get("smtp.host") == "platform":
            return Want(partition, skip=PLATFORM_DEFAULT)
        if partition is None:
            return Want(
                None,
                problem=(
                    "NoPartition",
                    f"{record.scope} has no metadata.targetIds.{self.name}: "
                    f"Orchestrator target {self.name} does not know its partitionGlobalId",
                ),
            )
        if flat.get("smtp.auth.oauth2.clientSecret"):
            return Want(
                partition,
                problem=(
                    "Unsupported",
                    "Orchestrator's SMTP settings have no OAuth2 (XOAUTH2) keys; this scope "
                    "authenticates with auth.oauth2",
                ),
            )
        secret_fp = record.fingerprint if flat.get("smtp.auth.password") else None
        return Want(partition, mapped_values(flat), secret_fp)

    def removed(self, inherited: ScopeRecord, previous: SyncState) -> Want:
        """A pruned org inherits again: its partition gets the host's settings, as an org
        with ``mode: default`` would; with the platform defaults in effect it is left as it
        is (Orchestrator has no "back to default" key to write)."""
        if previous.partition is None:
            return Want(None, skip="NoPartition")
        want = self.want(inherited, None, previous.partition)
        return want if want.problem is None else Want(previous.partition, skip=want.problem[0])

    # ------------------------------------------------------------ sync (I/O)

    def sync(self, work: Sequence[Work], ctx: SyncContext) -> list[Outcome]:
        def session(secret: str, client: HttpClient) -> Callable[[Work], Outcome]:
            return _Session(self, client, secret, ctx).one

        return fan_out(work, ctx, self.client_secret, self, session)


class _Session:
    """One sync run against one Orchestrator: the token in use and the per-scope steps."""

    def __init__(
        self, target: OrchestratorTarget, client: HttpClient, secret: str, ctx: SyncContext
    ) -> None:
        self.t, self.client, self.secret, self.ctx = target, client, secret, ctx
        self._token = ""
        self._lock = threading.Lock()

    def _bearer(self, refused: str = "") -> str:
        """The token to use; ``refused`` (a token the API answered 401 to) is replaced by a
        fresh one, once per refused token however many requests saw it refused."""
        with self._lock:
            if refused and self._token and self._token != refused:
                return self._token  # another request refreshed it meanwhile
            self._token = self.t.tokens.get(
                self.t.oauth,
                self.secret,
                ca_file=self.ctx.ca_file,
                timeout=self.t.timeout_s,
                stale=refused,
            )
            return self._token

    def _call(self, method: str, url: str, body: bytes | None) -> Any:
        token = [self._bearer()]

        def headers() -> dict[str, str]:
            out = {"Authorization": f"Bearer {token[0]}"}
            if body is not None:
                out["Content-Type"] = "application/json"
            return out

        def refresh() -> bool:
            token[0] = self._bearer(refused=token[0])
            return True

        reply = call(
            self.client,
            method,
            url,
            headers,
            body,
            policy=self.ctx.retry,
            sleep=self.ctx.sleep,
            on_401=refresh,
        )
        if method != "GET":
            return None
        try:
            return json.loads(reply.body.decode("utf-8") or "null")
        except (UnicodeDecodeError, ValueError) as exc:
            raise TargetError("Rejected", f"GET {self.t.api}: the answer is not JSON") from exc

    def read(self, partition: str) -> dict[str, str]:
        query = urlencode([("partitionGlobalId", partition), *(("key", k) for k in VALUE_KEYS)])
        data = self._call("GET", f"{self.t.api}?{query}", None)
        if not isinstance(data, list):
            raise TargetError("Rejected", f"GET {self.t.api}: expected a JSON array of settings")
        out: dict[str, str] = {}
        for item in data:
            if isinstance(item, dict) and isinstance(item.get("key"), str):
                value = item.get("value")
                out[item["key"]] = "" if value is None else str(value)
        return out

    def write(self, partition: str, settings: list[dict[str, str]]) -> None:
        body = json.dumps({"settings": settings, "partitionGlobalId": partition}).encode()
        self._call("PUT", self.t.api, body)

    def one(self, w: Work) -> Outcome:
        partition = str(w.want.partition)
        try:
            keys = list(w.changed_keys)
            drift: tuple[str, ...] = ()
            if w.check_drift and not w.fresh and not keys and not w.write_secret:
                # Only a scope with nothing to write is read back: one with changes gets
                # them written now and is compared at the next check (half the requests
                # when a host change cascades to every org).
                held = self.read(partition)
                drift = tuple(k for k, v in w.want.values.items() if held.get(k, "") != v)
                keys = sorted(set(keys) | set(drift), key=VALUE_KEYS.index)
            settings = [{"key": k, "value": w.want.values[k]} for k in keys]
            if w.write_secret:
                auth = w.record.effective.get("smtp.auth.password")
                owner = secret_owner(w.scope, w.record.sources)
                try:
                    password = self.ctx.secrets.value(SecretRef.parse(str(auth)), owner)
                except SecretError as exc:
                    return Outcome(w.scope, False, "SecretUnresolved", exc.message)
                settings.append({"key": KEY_PASSWORD, "value": password})
            if settings:
                self.write(partition, settings)
        except TargetError as exc:
            return Outcome(w.scope, False, exc.reason, REDACTOR(exc.message))
        written = tuple(s["key"] for s in settings)
        return Outcome(w.scope, True, "Synced", f"partition {partition}", written, drift)
