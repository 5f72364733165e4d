// mailctl status page: a read-only view over the daemon's read API (/v1).
//
// Rules this file keeps: every string from the server or the user reaches the page as
// text (textContent / text nodes / setAttribute of our own values) — never as HTML; no
// inline script or style (the CSP forbids both); state that matters lives in the URL
// hash (#/?q=..&condition=.. and #/scope/NAME), so back, forward and bookmarks work.
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const API = "../v1/";
  const PAGE = 50;
  const REFRESH_MS = 15000;
  const CONDITIONS = [
    ["", "All conditions"],
    ["ready", "Ready"],
    ["not_ready", "Not ready"],
    ["stalled", "Stalled"],
    ["probe_failed", "Probe failed"],
    ["not_synced", "Not synced"],
    ["held", "Held (never applied)"],
    ["unprobed", "Not probed yet"],
  ];
  // The probe's stages in the order it runs them (reconciler/probe/result.py STAGES).
  const STAGES = ["dns", "connect", "tls", "banner", "ehlo", "starttls", "ehlo2", "auth",
    "mail_from", "rcpt", "data", "quit", "confirm"];

  // ---------------------------------------------------------------- DOM helpers

  function el(tag, attrs, ...kids) {
    const node = document.createElement(tag);
    setAttrs(node, attrs);
    for (const kid of kids.flat()) {
      if (kid !== null && kid !== undefined && kid !== false) node.append(kid);
    }
    return node;
  }

  function svg(tag, attrs, ...kids) {
    const node = document.createElementNS(SVG, tag);
    setAttrs(node, attrs);
    for (const kid of kids.flat()) {
      if (kid !== null && kid !== undefined && kid !== false) node.append(kid);
    }
    return node;
  }

  function setAttrs(node, attrs) {
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (/^on/i.test(name)) throw new Error("no inline handlers");
      if (name === "class") node.setAttribute("class", value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
  }

  function text(value) {
    return value === null || value === undefined || value === "" ? "—" : String(value);
  }

  function ms(value) {
    if (value === null || value === undefined) return "—";
    return value >= 1000 ? (value / 1000).toFixed(2) + " s" : Math.round(value) + " ms";
  }

  function when(iso) {
    if (!iso) return "—";
    const d = new Date(iso);
    return isNaN(d.getTime()) ? String(iso) : d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
  }

  function scopeHref(scope) {
    return "#/scope/" + encodeURIComponent(scope);
  }

  // A condition as words and a symbol, never colour alone.
  function badge(kind, label) {
    const symbol = { ok: "✓", bad: "✗", warn: "!", off: "–" }[kind] || "";
    return el("span", { class: "badge " + kind }, el("span", { "aria-hidden": "true" }, symbol + " "), label);
  }

  function rowBadge(row) {
    if (!row.applied) return badge("bad", "Held");
    if (row.stalled) return badge("bad", "Stalled");
    if (row.probe && row.probe.status === "failed") return badge("bad", "Probe failed");
    if (row.synced === false) return badge("warn", "Not synced");
    return row.ready ? badge("ok", "Ready") : badge("warn", "Not ready");
  }

  // ---------------------------------------------------------------- data

  class HttpError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function getJSON(path) {
    const resp = await fetch(API + path, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (!resp.ok) {
      let message = resp.status + " " + resp.statusText;
      try {
        const body = await resp.json();
        if (body && body.error) message = body.error;
      } catch (e) {
        /* not JSON */
      }
      throw new HttpError(resp.status, message);
    }
    return resp.json();
  }

  function showError(where, err) {
    where.replaceChildren(
      el(
        "div",
        { class: "error", role: "alert" },
        el("h2", {}, "Cannot load data"),
        el("p", {}, err instanceof HttpError && err.status === 401
          ? "The daemon requires a bearer token on this address (see docs/ui.md)."
          : String(err.message || err))
      )
    );
  }

  function setFreshness(meta) {
    const node = document.getElementById("freshness");
    node.textContent = "Data as of " + when(meta.asOf) + " · store version " + meta.dataVersion;
  }

  // ---------------------------------------------------------------- routing

  function parseHash() {
    const hash = location.hash || "#/";
    if (hash.startsWith("#/scope/")) {
      return { view: "scope", scope: decodeURIComponent(hash.slice("#/scope/".length)) };
    }
    const query = hash.startsWith("#/?") ? hash.slice(3) : "";
    const params = new URLSearchParams(query);
    return {
      view: "overview",
      q: params.get("q") || "",
      condition: params.get("condition") || "",
      cls: params.get("class") || "",
      sort: params.get("sort") || "name",
      offset: Math.max(0, parseInt(params.get("offset") || "0", 10) || 0),
    };
  }

  function stateHash(state) {
    const params = new URLSearchParams();
    if (state.q) params.set("q", state.q);
    if (state.condition) params.set("condition", state.condition);
    if (state.cls) params.set("class", state.cls);
    if (state.sort && state.sort !== "name") params.set("sort", state.sort);
    if (state.offset) params.set("offset", String(state.offset));
    const query = params.toString();
    return "#/" + (query ? "?" + query : "");
  }

  let current = null; // the view on screen: { kind, refresh() }

  async function route() {
    const hash = location.hash;
    if (hash && !hash.startsWith("#/")) return; // in-page anchors (the skip link)
    const state = parseHash();
    const view = document.getElementById("view");
    if (state.view === "scope") {
      current = { kind: "scope", refresh: () => renderScope(view, state.scope, false) };
      await renderScope(view, state.scope, true);
    } else {
      current = { kind: "overview", refresh: () => refreshOverview(state, false) };
      await renderOverview(view, state);
    }
  }

  // ---------------------------------------------------------------- overview

  const COUNT_CARDS = [
    ["total", "Scopes", null],
    ["ready", "Ready", "ready"],
    ["stalled", "Stalled", "stalled"],
    ["probeFailed", "Probe failed", "probe_failed"],
    ["notSynced", "Not synced", "not_synced"],
    ["suspended", "Suspended", null],
    ["held", "Held, never applied", "held"],
  ];

  async function renderOverview(view, state) {
    const summaryBox = el("section", { id: "overview", "aria-labelledby": "overview-title" });
    const tableBox = el("section", { id: "scopes", "aria-labelledby": "scopes-title" });
    view.replaceChildren(summaryBox, tableBox);
    document.title = "mailctl status";
    await Promise.all([renderSummary(summaryBox), renderTableSection(tableBox, state)]);
  }

  async function refreshOverview(state) {
    const box = document.getElementById("overview");
    const table = document.getElementById("scope-results");
    if (box) await renderSummary(box);
    if (table) await loadTable(state);
  }

  async function renderSummary(box) {
    let data;
    try {
      data = await getJSON("summary");
    } catch (err) {
      showError(box, err);
      return;
    }
    setFreshness(data);
    const kids = [el("h1", { id: "overview-title" }, "Fleet overview")];
    if (data.suspended) {
      const s = data.suspend || {};
      kids.push(
        el("p", { class: "banner", role: "status" },
          el("strong", {}, "Reconciliation is suspended: "),
          text(s.reason), " (by " + text(s.by) + ", " + when(s.at) + ")")
      );
    }
    const counts = Object.assign({ total: data.total }, data.counts);
    kids.push(
      el("ul", { class: "cards", "aria-label": "Scopes by condition" },
        COUNT_CARDS.map(([key, label, filter]) => {
          const value = el("span", { class: "value" }, (counts[key] ?? 0).toLocaleString("en-US"));
          const name = el("span", { class: "label" }, label);
          const body = filter
            ? el("a", { href: stateHash({ condition: filter }) }, value, " ", name, el("span", { class: "sr-only" }, ": show them"))
            : el("span", {}, value, " ", name);
          return el("li", { class: "card card-" + key, id: "count-" + key, "data-count": String(counts[key] ?? 0) }, body);
        }))
    );
    const last = data.lastReconcile;
    kids.push(
      el("dl", { class: "facts" },
        el("dt", {}, "Current revision"), el("dd", { id: "revision" }, el("code", {}, text(data.revision))),
        el("dt", {}, "Last reconcile"),
        el("dd", { id: "last-reconcile" }, last
          ? when(last.at) + " · " + text(last.kind) + " · " + text(last.result) + " · " + ms(last.durationMs)
          : "not in this daemon's lifetime yet"),
        el("dt", {}, "Last applied"),
        el("dd", {}, when(data.lastApplied && data.lastApplied.at) + " · revision ", el("code", {}, text(data.lastApplied && data.lastApplied.revision)))
      )
    );
    if (data.invalidFiles && data.invalidFiles.length) {
      kids.push(
        el("div", { class: "invalid", role: "region", "aria-label": "Invalid files" },
          el("h2", {}, "Invalid files that name no scope"),
          el("ul", {}, data.invalidFiles.map((f) => el("li", {}, el("code", {}, f.file), ": ", text(f.message)))))
      );
    }
    kids.push(latencyChart(data.latency));
    box.replaceChildren(...kids);
    const select = document.getElementById("filter-class");
    if (select) fillClasses(select, data.classes, select.value);
  }

  function latencyChart(lat) {
    const fig = el("figure", { class: "chart", id: "latency-chart" });
    const title = "Probe latency distribution (" + lat.probes + " distinct probes" +
      (lat.p50 !== null ? ", median " + ms(lat.p50) + ", p90 " + ms(lat.p90) + ", p99 " + ms(lat.p99) : "") + ")";
    fig.append(el("figcaption", { id: "latency-title" }, title));
    const short = (b) => (b >= 1000 ? b / 1000 + "s" : b + "ms");
    const labels = lat.bucketsMs.map((b) => "≤" + short(b)).concat([">" + short(lat.bucketsMs[lat.bucketsMs.length - 1])]);
    const max = Math.max(1, ...lat.counts);
    const W = 640, H = 210, left = 40, bottom = 40, top = 20;
    const slot = (W - left) / lat.counts.length;
    const plot = svg("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-labelledby": "latency-title", class: "bars" });
    plot.append(svg("line", { x1: left, y1: H - bottom, x2: W, y2: H - bottom, class: "axis" }));
    plot.append(svg("text", { x: left - 6, y: top + 8, "text-anchor": "end", class: "tick" }, String(max)));
    plot.append(svg("text", { x: left - 6, y: H - bottom, "text-anchor": "end", class: "tick" }, "0"));
    lat.counts.forEach((count, i) => {
      const h = Math.round(((H - bottom - top) * count) / max);
      const x = left + i * slot + 3;
      const bar = svg("rect", { x: x, y: H - bottom - h, width: slot - 6, height: Math.max(h, count ? 1 : 0), class: "bar" },
        svg("title", {}, labels[i] + ": " + count));
      plot.append(bar);
      if (count) plot.append(svg("text", { x: x + (slot - 6) / 2, y: H - bottom - h - 3, "text-anchor": "middle", class: "count" }, String(count)));
      plot.append(svg("text", { x: x + (slot - 6) / 2, y: H - bottom + 16, "text-anchor": "middle", class: "tick" }, labels[i]));
    });
    fig.append(plot);
    fig.append(
      el("details", {},
        el("summary", {}, "Latency distribution as a table"),
        el("table", {},
          el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Total probe time"), el("th", { scope: "col" }, "Probes"))),
          el("tbody", {}, lat.counts.map((c, i) => el("tr", {}, el("td", {}, labels[i]), el("td", {}, String(c)))))))
    );
    return fig;
  }

  function fillClasses(select, classes, selected) {
    const opts = [el("option", { value: "" }, "All failure classes")];
    const names = Object.keys(classes || {});
    if (selected && !names.includes(selected)) names.push(selected);
    for (const name of names.sort()) {
      opts.push(el("option", { value: name }, name + (classes && classes[name] !== undefined ? " (" + classes[name] + ")" : "")));
    }
    select.replaceChildren(...opts);
    select.value = selected || "";
  }

  async function renderTableSection(box, state) {
    const search = el("input", { type: "search", id: "filter-q", name: "q", value: state.q, autocomplete: "off", spellcheck: "false", placeholder: "org name" });
    const cond = el("select", { id: "filter-condition", name: "condition" },
      CONDITIONS.map(([v, label]) => el("option", { value: v }, label)));
    cond.value = state.condition;
    const cls = el("select", { id: "filter-class", name: "class" });
    fillClasses(cls, {}, state.cls);
    const form = el("form", { role: "search", class: "filters", "aria-label": "Filter scopes" },
      el("label", { for: "filter-q" }, "Search by name"), search,
      el("label", { for: "filter-condition" }, "Condition"), cond,
      el("label", { for: "filter-class" }, "Failure class"), cls,
      el("button", { type: "submit" }, "Search"));
    const results = el("div", { id: "scope-results" });
    box.replaceChildren(el("h2", { id: "scopes-title" }, "Scopes"), form, results);

    let timer = null;
    const apply = (immediate) => {
      clearTimeout(timer);
      const go = () => {
        Object.assign(state, { q: search.value, condition: cond.value, cls: cls.value, offset: 0 });
        history.replaceState(null, "", stateHash(state));
        loadTable(state);
      };
      if (immediate) go();
      else timer = setTimeout(go, 250);
    };
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      apply(true);
    });
    search.addEventListener("input", () => apply(false));
    cond.addEventListener("change", () => apply(true));
    cls.addEventListener("change", () => apply(true));
    await loadTable(state);
  }

  let tableRequest = 0;

  async function loadTable(state) {
    const box = document.getElementById("scope-results");
    if (!box) return;
    const mine = ++tableRequest;
    const params = new URLSearchParams({ limit: String(PAGE), offset: String(state.offset), sort: state.sort });
    if (state.q) params.set("q", state.q);
    if (state.condition) params.set("condition", state.condition);
    if (state.cls) params.set("class", state.cls);
    box.setAttribute("aria-busy", "true");
    let data;
    try {
      data = await getJSON("scopes?" + params.toString());
    } catch (err) {
      showError(box, err);
      return;
    }
    if (mine !== tableRequest) return; // a newer search won
    setFreshness(data);
    box.replaceChildren(scopeTable(data, state), pager(data, state));
    box.setAttribute("aria-busy", "false");
    box.dataset.total = String(data.total);
    document.dispatchEvent(new CustomEvent("mailctl:table", { detail: { total: data.total } }));
  }

  function sortHeader(state, key, label) {
    const active = state.sort.replace(/^-/, "") === key;
    const desc = active && state.sort.startsWith("-");
    const button = el("button", { type: "button", class: "sort" }, label,
      el("span", { "aria-hidden": "true" }, active ? (desc ? " ▼" : " ▲") : ""));
    button.addEventListener("click", () => {
      state.sort = active && !desc ? "-" + key : key;
      state.offset = 0;
      history.replaceState(null, "", stateHash(state));
      loadTable(state).then(() => {
        const again = document.querySelector('th[data-sort="' + key + '"] button');
        if (again) again.focus();
      });
    });
    return el("th", { scope: "col", "data-sort": key, "aria-sort": active ? (desc ? "descending" : "ascending") : "none" }, button);
  }

  function scopeTable(data, state) {
    const caption = el("caption", {}, data.total + " scope" + (data.total === 1 ? "" : "s") + (state.q || state.condition || state.cls ? " match" : ""));
    const head = el("thead", {}, el("tr", {},
      sortHeader(state, "name", "Scope"),
      sortHeader(state, "condition", "Condition"),
      el("th", { scope: "col" }, "Reason"),
      sortHeader(state, "class", "Probe"),
      sortHeader(state, "latency", "Latency"),
      sortHeader(state, "applied", "Applied")));
    const body = el("tbody", {}, data.items.map((row) => {
      const probe = row.probe;
      return el("tr", { "data-scope": row.scope },
        el("th", { scope: "row" }, el("a", { href: scopeHref(row.scope) }, row.scope)),
        el("td", {}, rowBadge(row)),
        el("td", { class: "reason" }, el("span", { class: "reason-name" }, text(row.reason)),
          row.ready ? null : el("span", { class: "message" }, text(row.message))),
        el("td", {}, probe
          ? (probe.status === "failed" ? probe["class"] + " at " + probe.stage : "passed")
          : "—"),
        el("td", { class: "num" }, ms(probe && probe.totalMs)),
        el("td", {}, el("code", {}, text(row.lastAppliedRevision)), " ", el("span", { class: "when" }, when(row.lastAppliedAt))));
    }));
    if (!data.items.length) {
      body.append(el("tr", {}, el("td", { colspan: "6" }, "No scope matches.")));
    }
    return el("table", { class: "scopes", id: "scope-table" }, caption, head, body);
  }

  function pager(data, state) {
    const first = data.total ? data.offset + 1 : 0;
    const lastShown = Math.min(data.offset + data.limit, data.total);
    const prev = el("button", { type: "button", disabled: data.offset === 0 }, "Previous page");
    const next = el("button", { type: "button", disabled: data.next === null }, "Next page");
    const go = (offset) => {
      state.offset = offset;
      history.replaceState(null, "", stateHash(state));
      loadTable(state).then(() => {
        const table = document.getElementById("scope-table");
        if (table) table.scrollIntoView();
      });
    };
    prev.addEventListener("click", () => go(Math.max(0, data.offset - data.limit)));
    next.addEventListener("click", () => go(data.next));
    return el("nav", { class: "pager", "aria-label": "Pages" }, prev,
      el("span", { id: "page-status" }, "Showing " + first + "–" + lastShown + " of " + data.total), next);
  }

  // ---------------------------------------------------------------- one scope

  async function renderScope(view, scope, focus) {
    let data;
    try {
      data = await getJSON("scopes/" + encodeURIComponent(scope).replace(/%2F/gi, "/"));
    } catch (err) {
      showError(view, err);
      return;
    }
    document.title = data.scope + " · mailctl status";
    const ready = (data.conditions.Ready || {}).status === "True";
    const stalled = (data.conditions.Stalled || {}).status === "True";
    const synced = Object.entries(data.conditions).filter(([k]) => k.split("/")[0] === "Synced");
    const state = rowBadge({
      applied: data.applied,
      stalled: stalled,
      ready: ready,
      probe: data.probes[0] || null,
      synced: synced.length ? synced.every(([, c]) => c.status === "True") : null,
    });
    const title = el("h1", { id: "scope-title", tabindex: "-1" }, data.scope);
    view.replaceChildren(
      el("p", {}, el("a", { href: "#/", class: "back" }, "← All scopes")),
      el("article", { "aria-labelledby": "scope-title", id: "scope-detail" },
        title,
        el("p", { class: "state" }, state,
          " ", data.applied ? "mode " + text(data.mode) : "never applied"),
        el("dl", { class: "facts" },
          el("dt", {}, "Source file"), el("dd", {}, el("code", {}, text(data.source))),
          el("dt", {}, "Applied revision"), el("dd", {}, el("code", {}, text(data.lastAppliedRevision)), " · ", when(data.lastAppliedAt)),
          el("dt", {}, "Last attempted"), el("dd", {}, el("code", {}, text(data.lastAttemptedRevision)), " · ", when(data.lastAttemptedAt))),
        conditionsSection(data.conditions),
        settingsSection(data.settings),
        probesSection(data.probes),
        historySection(data.history)));
    if (focus) title.focus();
  }

  function conditionsSection(conditions) {
    const rows = Object.entries(conditions).map(([type, c]) =>
      el("tr", {}, el("th", { scope: "row" }, type),
        el("td", {}, c.status === "True" ? "True" : c.status === "False" ? "False" : text(c.status)),
        el("td", {}, text(c.reason)), el("td", { class: "message" }, text(c.message))));
    return el("section", { "aria-labelledby": "conditions-title", id: "conditions" },
      el("h2", { id: "conditions-title" }, "Conditions"),
      el("table", {}, el("thead", {}, el("tr", {}, ["Type", "Status", "Reason", "Message"].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, rows)));
  }

  function settingsSection(settings) {
    const body = settings.length
      ? el("table", { id: "settings-table" },
        el("thead", {}, el("tr", {}, ["Field", "Value", "Source"].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, settings.map((s) => el("tr", {},
          el("th", { scope: "row" }, el("code", {}, s.field)),
          el("td", {}, el("code", {}, String(s.value)), s.secret ? el("span", { class: "tag" }, "secret reference") : null),
          el("td", {}, el("span", { class: "source source-" + s.source }, text(s.source)))))))
      : el("p", {}, "Nothing applied yet.");
    return el("section", { "aria-labelledby": "settings-title", id: "settings" },
      el("h2", { id: "settings-title" }, "Effective settings"),
      el("p", { class: "note" }, "Applied values and where each comes from (platform, host or org). Secrets are shown as references, never as values."),
      body);
  }

  function stageBars(latency) {
    const rank = (s) => (STAGES.indexOf(s) === -1 ? STAGES.length : STAGES.indexOf(s));
    const stages = Object.entries(latency || {}).sort((a, b) => rank(a[0]) - rank(b[0]));
    if (!stages.length) return el("p", {}, "No stage timings (no connection was made).");
    const max = Math.max(1, ...stages.map(([, v]) => v));
    const rowH = 22, left = 90, W = 560, right = 80;
    const desc = stages.map(([s, v]) => s + " " + ms(v)).join(", ");
    const plot = svg("svg", { viewBox: "0 0 " + W + " " + (stages.length * rowH + 4), role: "img", "aria-label": "Per-stage latency: " + desc, class: "stages" });
    stages.forEach(([stage, value], i) => {
      const y = i * rowH + 2;
      const w = Math.max(1, Math.round(((W - left - right) * value) / max));
      plot.append(svg("text", { x: left - 6, y: y + 14, "text-anchor": "end", class: "tick" }, stage));
      plot.append(svg("rect", { x: left, y: y + 3, width: w, height: rowH - 8, class: "bar" }, svg("title", {}, stage + ": " + ms(value))));
      plot.append(svg("text", { x: left + w + 6, y: y + 14, class: "tick" }, ms(value)));
    });
    return plot;
  }

  function probesSection(probes) {
    const items = probes.map((p, i) => {
      const failed = p.status !== "passed";
      const facts = el("dl", { class: "facts" },
        el("dt", {}, "Result"), el("dd", { class: "probe-result" }, failed ? badge("bad", "failed") : badge("ok", "passed"),
          failed ? el("span", {}, " ", el("strong", { class: "probe-class" }, text(p["class"])), " at stage ", el("strong", { class: "probe-stage" }, text(p.stage))) : " at stage " + text(p.stage)),
        el("dt", {}, "Endpoint"), el("dd", {}, el("code", {}, text(p.endpoint))),
        el("dt", {}, "SMTP reply"), el("dd", { class: "probe-message" }, (p.code ? p.code + " " : ""), text(p.message)),
        p.hint ? [el("dt", {}, "Hint"), el("dd", {}, p.hint)] : null,
        el("dt", {}, "Delivery"), el("dd", { class: "probe-delivery" }, p.delivery
          ? (p.delivery === "not_delivered" ? "✗ not delivered" : "✓ " + p.delivery.replace("_", " ")) + (p.deliveryMs !== null && p.deliveryMs !== undefined ? " in " + ms(p.deliveryMs) : "")
          : (p.sent ? "sent; no confirmation configured" : "not sent")),
        el("dt", {}, "Probe id"), el("dd", {}, el("code", {}, text(p.probe_id))));
      return el("li", { class: "probe" + (failed ? " failed" : "") },
        el("h3", {}, (i === 0 ? "Latest probe" : "Probe") + " · " + when(p.at)), facts,
        el("h4", {}, "Per-stage latency"), stageBars(p.latency_ms));
    });
    return el("section", { "aria-labelledby": "probes-title", id: "probes" },
      el("h2", { id: "probes-title" }, "Last probes"),
      items.length ? el("ol", { class: "probes" }, items) : el("p", {}, "Not probed yet."));
  }

  function historySection(history) {
    const items = history.map((h) => {
      let changes;
      if (h.changes === null) {
        changes = el("p", { class: "note" }, "No field-level record of this scope in this entry.");
      } else if (!h.changes.length) {
        changes = el("p", { class: "note" }, "No field changed.");
      } else {
        changes = el("table", { class: "diff" },
          el("thead", {}, el("tr", {}, ["Field", "Before", "After"].map((x) => el("th", { scope: "col" }, x)))),
          el("tbody", {}, h.changes.map((c) => el("tr", {},
            el("th", { scope: "row" }, el("code", {}, c.field)),
            el("td", { class: "before" }, el("span", { class: "sr-only" }, "before: "), el("del", {}, text(c.before)), c.sourceBefore ? " (" + c.sourceBefore + ")" : ""),
            el("td", { class: "after" }, el("span", { class: "sr-only" }, "after: "), el("ins", {}, text(c.after)), c.sourceAfter ? " (" + c.sourceAfter + ")" : "",
              c.note ? el("span", { class: "tag" }, c.note) : null)))));
      }
      return el("li", {},
        el("h3", {}, "#" + h.id + " · " + h.kind + " · ", el("code", {}, h.revision), " · " + when(h.at) + " · by " + text(h.actor)),
        el("p", {}, text(h.summary)), changes);
    });
    return el("section", { "aria-labelledby": "history-title", id: "history" },
      el("h2", { id: "history-title" }, "History"),
      items.length ? el("ol", { class: "history" }, items) : el("p", {}, "No history entry."));
  }

  // ---------------------------------------------------------------- start

  function start() {
    window.addEventListener("hashchange", route);
    document.getElementById("refresh").addEventListener("click", () => current && current.refresh());
    document.getElementById("skip").addEventListener("click", (ev) => {
      ev.preventDefault();
      document.getElementById("main").focus();
    });
    setInterval(() => {
      if (document.visibilityState === "visible" && current && current.kind === "overview") {
        const box = document.getElementById("overview");
        if (box) renderSummary(box);
      }
    }, REFRESH_MS);
    route();
  }

  start();
})();
