"""The daemon's read API (DESIGN §12) and the status page that is built on it.

    GET /v1/summary             counts by condition and failure class, latency distribution
    GET /v1/scopes              one page of scopes: q, condition, class, sort, limit, offset
    GET /v1/scopes/{scope}      one scope: settings with sources (secret references only),
                                conditions, the last probes, history with field diffs
    GET /ui                     the read-only page (static files shipped in the package)

Lists come from the in-memory :class:`~.scopeindex.ScopeIndex`; a scope's detail is read
from the store on demand. Nothing here resolves a secret: settings hold references, and
every body still passes the process redactor on its way out (:mod:`.http`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable, Mapping
from importlib import resources
from typing import Any

from reconciler.reporters import FORMAT_VERSION
from reconciler.store import StateStore, StatusSnapshot
from reconciler.targets.state import SyncState, by_scope, with_sync

from .http import Handler, Response, current_request
from .scopedetail import scope_detail
from .scopeindex import CONDITIONS, SORTS, IndexCache, ScopeIndex, row_of

MAX_LIMIT = 500
DEFAULT_LIMIT = 50
MAX_QUERY_CHARS = 200
_STATIC = {
    "/ui/": ("index.html", "text/html; charset=utf-8"),
    "/ui/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/ui/app.css": ("app.css", "text/css; charset=utf-8"),
    "/ui/favicon.svg": ("favicon.svg", "image/svg+xml"),
}


class BadQuery(ValueError):
    pass


def _json(status: int, payload: Mapping[str, Any]) -> Response:
    body = json.dumps({"format_version": FORMAT_VERSION, **payload}, indent=1)
    return status, "application/json", body.encode()


def _error(status: int, message: str, hint: str | None = None) -> Response:
    return _json(status, {"error": message, "hint": hint})


def build_index(snapshot: StatusSnapshot, sync: Iterable[SyncState] = ()) -> ScopeIndex:
    """One index from one consistent store read (applied scopes and held ones); ``sync``
    (the targets' sync state) adds ``Synced/<target>`` and folds it into ``Ready``."""
    synced = by_scope(sync)
    pool: dict[str, str] = {}

    def intern(text: str) -> str:
        return pool.setdefault(text, text)

    rows = [
        row_of(
            rec.scope,
            mode=rec.mode,
            applied=True,
            source=rec.source_file,
            conditions=with_sync(rec.conditions, synced.get(rec.scope, ())),
            probe=rec.probe,
            revision=rec.last_applied_revision,
            applied_at=rec.last_applied_at,
            attempted_at=rec.last_attempted_at,
            intern=intern,
        )
        for rec in snapshot.statuses
    ]
    invalid_files = []
    for held in snapshot.held:
        if held.kind == "file":
            invalid_files.append(
                {"file": held.name, "reason": held.reason, "message": held.message}
            )
            continue
        rows.append(
            row_of(
                held.name,
                mode=None,
                applied=False,
                source=held.source_file,
                conditions={
                    "Ready": {"status": "False", "reason": held.reason, "message": held.message},
                    "Stalled": {"status": "True", "reason": held.reason, "message": held.message},
                },
                probe=None,
                revision=None,
                applied_at=None,
                attempted_at=held.at,
                intern=intern,
            )
        )
    rows.sort(key=lambda r: (r.scope != "host", r.scope))
    susp = snapshot.suspension
    return ScopeIndex(
        rows=rows,
        data_version=snapshot.data_version,
        revision=snapshot.current_revision,
        suspension={"reason": susp.reason, "at": susp.at, "by": susp.by}
        if susp.suspended
        else None,
        invalid_files=invalid_files,
    )


def _int_param(name: str, default: int, low: int, high: int) -> int:
    text = current_request().param(name)
    if text is None or text == "":
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise BadQuery(f"{name} must be an integer in {low}..{high}")
    return int(text)


def _choice(name: str, choices: tuple[str, ...]) -> str | None:
    value = current_request().param(name)
    if value in (None, "", "all"):
        return None
    if value not in choices:
        raise BadQuery(f"{name} must be one of: {', '.join(choices)}")
    return value


class ReadApi:
    """Handlers of ``/v1/*`` and ``/ui*`` over one store (its own reader connection)."""

    def __init__(
        self,
        store: StateStore,
        *,
        last_run: Callable[[], dict[str, Any] | None] = lambda: None,
    ) -> None:
        self.store = store
        self.last_run = last_run
        self.cache = IndexCache(
            lambda: build_index(store.status_snapshot(), store.target_states()),
            store.data_version,
        )

    def routes(self) -> dict[str, Handler]:
        routes: dict[str, Handler] = {
            "/v1/summary": self.summary,
            "/v1/scopes": self.scopes,
            "/v1/scopes/": self.scope,
        }
        for path in _STATIC:
            routes[path] = self.static
        routes["/ui"] = self.ui_redirect
        return routes

    def warm(self) -> None:
        """Start building the index now (in the background), e.g. once the daemon is ready."""
        self.cache.prefetch()

    async def close(self) -> None:
        await self.cache.close()

    # ------------------------------------------------------------------ /v1

    def _meta(self, index: ScopeIndex) -> dict[str, Any]:
        return {
            "dataVersion": index.data_version,
            "asOf": _iso(index.built_at),
            "revision": index.revision,
        }

    async def summary(self) -> Response:
        index = await self.cache.get()
        return _json(
            200,
            {
                **self._meta(index),
                "suspended": index.suspension is not None,
                "suspend": index.suspension,
                "lastReconcile": self.last_run(),
                "invalidFiles": index.invalid_files,
                **index.summary(),
            },
        )

    async def scopes(self) -> Response:
        req = current_request()
        try:
            q = req.param("q", "") or ""
            if len(q) > MAX_QUERY_CHARS:
                raise BadQuery(f"q is longer than {MAX_QUERY_CHARS} characters")
            condition = _choice("condition", CONDITIONS)
            sort_text = req.param("sort", "name") or "name"
            descending = sort_text.startswith("-")
            sort = sort_text.lstrip("-")
            if sort not in SORTS:
                raise BadQuery(f"sort must be one of: {', '.join(SORTS)} (prefix - for descending)")
            if req.param("order") in ("desc", "descending"):
                descending = True
            limit = _int_param("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
            offset = _int_param("offset", 0, 0, 10**9)
            failure_class = req.param("class") or None
        except BadQuery as exc:
            return _error(400, str(exc), "see docs/api.md for the parameters")
        index = await self.cache.get()
        page = index.query(
            q=q,
            condition=condition,
            failure_class=failure_class,
            sort=sort,
            descending=descending,
            offset=offset,
            limit=limit,
        )
        nxt = offset + limit if offset + limit < page.total else None
        return _json(
            200,
            {
                **self._meta(index),
                "total": page.total,
                "offset": offset,
                "limit": limit,
                "next": nxt,
                "items": [row.to_dict() for row in page.items],
            },
        )

    async def scope(self) -> Response:
        name = current_request().path[len("/v1/scopes/") :]
        if not name or len(name) > 300:
            return _error(404, "no scope named", "scopes are host or org/NAME")
        detail = await asyncio.to_thread(scope_detail, self.store, name)
        if detail is None:
            return _error(404, f"no scope {name}", "GET /v1/scopes lists the scopes")
        return _json(200, detail)

    # ------------------------------------------------------------------ /ui

    async def ui_redirect(self) -> Response:
        """``/ui`` -> ``ui/`` (relative: right behind a reverse proxy's path prefix too), so
        that the page's relative URLs (``app.js``, ``../v1/...``) resolve."""
        return 301, "text/plain", b"see ui/\n", {"Location": "ui/"}

    async def static(self) -> Response:
        path = current_request().path
        filename, ctype = _STATIC[path]
        body = resources.files("reconciler.daemon.ui").joinpath(filename).read_bytes()
        return 200, ctype, body


def _iso(epoch: float) -> str:
    import datetime as dt

    stamp = dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")
