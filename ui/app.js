// @ts-check
// The cluster page's client: it follows one node's view (GET /ui/events, Server-Sent Events)
// and draws members, timeline, rate charts and latest entries from each view as it comes.
// When that node dies it says so and follows another member it knows (a cross-origin
// EventSource when the node allows it, else that member's own page); the two operator
// actions go through the same endpoints as curl (POST /leader, POST /remove).

/** @typedef {import("./view_types.ts").UiView} UiView */
/** @typedef {import("./view_types.ts").UiMember} UiMember */
/** @typedef {import("./view_types.ts").UiRatePoint} UiRatePoint */

/** A member is drawn as lagging when it trails the leader by more entries than this. */
const lagEntriesWarn = 100;
/** ... or when the leader last heard from it longer ago than this (ms). */
const lastContactMsWarn = 1_500;
/** How long one candidate node gets to open its event stream before the next is tried (ms). */
const connectMsMax = 1_500;
/**
 * A node sends a view about every second; a stream silent this long (ms) belongs to a node that
 * hangs (stopped, partitioned from the page), and another member is followed instead.
 */
const silentMsMax = 5_000;
/** Timeline events drawn (the node keeps up to 200). */
const timelineShownMax = 60;

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const svgNs = "http://www.w3.org/2000/svg";

/** Base URL of the node followed: "" is the node that served this page. */
let base = "";
/** @type {EventSource | null} */
let source = null;
/** @type {UiView | null} */
let lastView = null;
/** Members seen in any view, by id, so a dead node's peers stay known. @type {Map<string, string>} */
const knownHttp = new Map();
let showValues = false;
/** Bumped by every (re)connection, so a stale attempt's callbacks do nothing. */
let generation = 0;
/** Bumped by every failover, so only the latest one keeps trying. */
let failovers = 0;
/** When the followed stream last opened or brought a view (performance.now()). */
let heardAt = 0;

/** The state pill in the header, and document.body's data-conn for tests and styles. */
function setConn(/** @type {"connecting" | "live" | "lost"} */ state, /** @type {string} */ text) {
  const el = $("conn");
  el.dataset["state"] = state;
  el.textContent = text;
  document.body.dataset["conn"] = state;
}

function banner(/** @type {string | null} */ text) {
  const el = $("banner");
  el.hidden = text === null;
  el.textContent = text ?? "";
}

function eventsUrl(/** @type {string} */ at) {
  return `${at}/ui/events${showValues ? "?values=1" : ""}`;
}

/** Follows `at`'s events; resolves true once the stream is open, false if it fails first. */
function follow(/** @type {string} */ at) {
  const mine = ++generation;
  source?.close();
  const es = new EventSource(eventsUrl(at));
  source = es;
  return new Promise((resolve) => {
    let opened = false;
    const timer = setTimeout(() => {
      if (!opened) {
        es.close();
        resolve(false);
      }
    }, connectMsMax);
    es.addEventListener("open", () => {
      if (mine !== generation) return;
      opened = true;
      heardAt = performance.now();
      clearTimeout(timer);
      base = at;
      banner(at === "" ? null : `The node that served this page is gone; following ${at.replace(/^\w+:\/\//, "")}.`);
      resolve(true);
    });
    es.addEventListener("view", (ev) => {
      if (mine !== generation) return;
      heardAt = performance.now();
      try {
        render(/** @type {UiView} */ (JSON.parse(/** @type {MessageEvent} */ (ev).data)));
      } catch (e) {
        console.error("bad view", e);
      }
    });
    es.addEventListener("error", () => {
      es.close();
      if (mine !== generation) return;
      clearTimeout(timer);
      if (!opened) {
        resolve(false);
        return;
      }
      void failover();
    });
  });
}

/** URL of a member's HTTP address, as the page reaches it. */
function urlOf(/** @type {string} */ httpAddr) {
  return `${location.protocol}//${httpAddr}`;
}

/** True if something answers at `url` (an opaque answer is enough: it says the node is up). */
async function isUp(/** @type {string} */ url) {
  try {
    await fetch(`${url}/ui`, { mode: "no-cors", cache: "no-store", signal: AbortSignal.timeout(connectMsMax) });
    return true;
  } catch {
    return false;
  }
}

/**
 * The followed node is gone: say so, then try every member it knew, the last leader first,
 * the lost node last (it may come back). A member that is up but refuses a cross-origin
 * stream (-auth) is opened as its own page instead.
 */
async function failover() {
  const lostId = lastView?.node.id ?? "this node";
  setConn("lost", `lost ${lostId}`);
  banner(`${lostId} stopped answering; looking for another member…`);
  const mine = ++failovers;
  for (let round = 0; mine === failovers; round++) {
    const leader = lastView?.leader ?? null;
    /** @param {string} id */
    const rank = (id) => (id === lostId ? 2 : id === leader ? 0 : 1);
    const ids = [...knownHttp.keys()].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : 1));
    /** @type {[string, string][]} */
    const candidates = ids.map((id) => [id, urlOf(knownHttp.get(id) ?? "")]);
    // Before any view came, the only node known is the one that served the page.
    if (candidates.length === 0) candidates.push(["this page's node", location.origin]);
    for (const [id, full] of candidates) {
      if (mine !== failovers) return;
      const url = full === location.origin ? "" : full;
      setConn("connecting", `trying ${id}…`);
      if (await follow(url)) {
        setConn("live", `live · ${id}`);
        return;
      }
      if (url !== "" && (await isUp(url))) {
        banner(`${lostId} is gone; opening ${id}'s page…`);
        location.href = `${url}/ui`;
        return;
      }
    }
    setConn("lost", `no member answers (round ${round + 1})`);
    await new Promise((r) => setTimeout(r, Math.min(5_000, 500 * (round + 1))));
  }
}

function fmtInt(/** @type {number | null} */ n) {
  return n === null ? "—" : n.toLocaleString("en-US");
}

function fmtMs(/** @type {number | null} */ ms) {
  if (ms === null) return "—";
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)} s`;
  return `${Math.round(ms / 60_000)} min`;
}

function fmtTime(/** @type {number} */ at) {
  return new Date(at).toLocaleTimeString([], { hour12: false });
}

/** An element with a class and text, the DOM way (no innerHTML: ids and keys are user data). */
function el(/** @type {string} */ tag, /** @type {string} */ cls = "", /** @type {string} */ text = "") {
  const e = document.createElement(tag);
  if (cls !== "") e.className = cls;
  if (text !== "") e.textContent = text;
  return e;
}

function isLagging(/** @type {UiMember} */ m, /** @type {string | null} */ leader) {
  if (m.id === leader) return false;
  return (m.lagEntries ?? 0) > lagEntriesWarn || (m.lastContactMs ?? 0) > lastContactMsWarn;
}

/** Draws one view: every part from scratch (a view is small: a few members, ≤ 200 events). */
function render(/** @type {UiView} */ view) {
  lastView = view;
  for (const m of view.members) if (m.httpAddr !== null) knownHttp.set(m.id, m.httpAddr);
  if (!knownHttp.has(view.node.id) && view.node.httpAddr !== null) knownHttp.set(view.node.id, view.node.httpAddr);
  setConn("live", `live · ${view.node.id}`);
  $("leader").textContent = view.leader ?? "none";
  $("term").textContent = String(view.term);
  $("count").textContent = String(view.members.length);
  document.body.dataset["leader"] = view.leader ?? "";
  document.body.dataset["node"] = view.node.id;
  renderMembers(view);
  renderTimeline(view);
  renderCharts(view);
  renderEntries(view);
}

function renderMembers(/** @type {UiView} */ view) {
  const box = $("members");
  box.replaceChildren();
  for (const m of view.members) {
    const card = el("article", "member");
    card.dataset["member"] = m.id;
    card.dataset["role"] = m.role;
    const lagging = isLagging(m, view.leader);
    card.dataset["lagging"] = String(lagging);
    const head = el("div", "head");
    head.append(el("span", "id", m.id));
    if (m.id === view.node.id) head.append(el("span", "self", base === "" ? "(this page)" : "(answering)"));
    /** @type {string[]} */
    const words = [m.role];
    if (m.suffrage === "learner" && m.role !== "learner") words.push("learner");
    if (lagging && m.role !== "unreachable") words.push("lagging");
    head.append(el("span", "badge", words.join(" · ")));
    card.append(head);
    card.append(el("div", "addr", `http ${m.httpAddr ?? "?"}`), el("div", "addr", `raft ${m.raftAddr}`));
    const stats = el("dl", "stats");
    /** @type {[string, string, string, boolean][]} */
    const rows = [
      ["term", "term", m.term === null ? "—" : String(m.term), false],
      ["commit", "commit", fmtInt(m.commit), false],
      ["applied", "applied", fmtInt(m.applied), false],
      ["last index", "lastIndex", fmtInt(m.lastIndex), false],
      ["trails by", "lagEntries", m.lagEntries === null ? "—" : `${fmtInt(m.lagEntries)}`, (m.lagEntries ?? 0) > lagEntriesWarn],
      ["last contact", "lastContactMs", fmtMs(m.lastContactMs), (m.lastContactMs ?? 0) > lastContactMsWarn],
    ];
    for (const [label, field, value, warn] of rows) {
      const d = el("div");
      const dd = el("dd", warn ? "warn" : "", value);
      dd.dataset["field"] = field;
      d.append(el("dt", "", label), dd);
      stats.append(d);
    }
    card.append(stats);
    const actions = el("div", "actions");
    const lead = /** @type {HTMLButtonElement} */ (el("button", "", "Make leader"));
    lead.dataset["action"] = "leader";
    lead.disabled = m.id === view.leader || m.suffrage !== "voter" || m.role === "removed" || m.role === "unreachable";
    lead.addEventListener("click", () => void act("leader", m.id));
    const remove = /** @type {HTMLButtonElement} */ (el("button", "danger", "Remove"));
    remove.dataset["action"] = "remove";
    remove.disabled = m.role === "removed";
    remove.addEventListener("click", () => void act("remove", m.id));
    actions.append(lead, remove);
    card.append(actions);
    box.append(card);
  }
}

function renderTimeline(/** @type {UiView} */ view) {
  const list = $("timeline");
  list.replaceChildren();
  const events = view.timeline.slice(-timelineShownMax).reverse();
  if (events.length === 0) list.append(el("li", "empty", "nothing yet"));
  for (const e of events) {
    const li = el("li");
    li.dataset["kind"] = e.kind;
    const t = el("time", "", fmtTime(e.at));
    t.setAttribute("datetime", new Date(e.at).toISOString());
    const kind = el("span", "kind", e.kind);
    kind.dataset["kind"] = e.kind;
    const detail = el("span", "detail", e.detail);
    if (e.durationMs !== null) detail.append(el("span", "dur", fmtMs(e.durationMs)));
    li.append(t, kind, detail);
    list.append(li);
  }
}

/**
 * One small line chart as inline SVG: `series` share the y axis, which starts at 0 and ends
 * at the largest value; x spans the points' times (the node keeps the last 5 minutes). Colours
 * are the theme's CSS variables, so a switch to dark or light redraws them at once.
 */
function lineChart(
  /** @type {HTMLElement} */ figure,
  /** @type {readonly UiRatePoint[]} */ points,
  /** @type {{ name: string, color: string, value: (p: UiRatePoint) => number | null, unit: string }[]} */ series,
) {
  // Drawn at the figure's own width, so labels keep their shape on any screen.
  const w = Math.max(200, Math.round(figure.clientWidth || 300)), h = 110, left = 34, bottom = 14;
  const svg = document.createElementNS(svgNs, "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.setAttribute("role", "img");
  let max = 0;
  for (const p of points) for (const s of series) max = Math.max(max, s.value(p) ?? 0);
  const top = max === 0 ? 1 : niceCeil(max);
  const t0 = points[0]?.at ?? 0;
  const span = Math.max(1, (points[points.length - 1]?.at ?? 0) - t0);
  const x = (/** @type {number} */ at) => left + ((at - t0) / span) * (w - left - 2);
  const y = (/** @type {number} */ v) => 4 + (1 - v / top) * (h - bottom - 4);
  for (const v of [0, top / 2, top]) {
    const line = document.createElementNS(svgNs, "line");
    line.setAttribute("class", "grid");
    line.setAttribute("x1", String(left));
    line.setAttribute("x2", String(w));
    line.setAttribute("y1", String(y(v)));
    line.setAttribute("y2", String(y(v)));
    line.setAttribute("vector-effect", "non-scaling-stroke");
    const label = document.createElementNS(svgNs, "text");
    label.setAttribute("class", "axis");
    label.setAttribute("x", "0");
    label.setAttribute("y", String(Math.max(9, Math.min(h - bottom, y(v) + 3))));
    label.textContent = shortNum(v);
    svg.append(line, label);
  }
  const caption = document.createElement("figcaption");
  for (const s of series) {
    const pts = points.flatMap((p) => {
      const v = s.value(p);
      return v === null ? [] : [`${x(p.at).toFixed(1)},${y(v).toFixed(1)}`];
    });
    if (pts.length > 0) {
      const line = document.createElementNS(svgNs, "polyline");
      line.setAttribute("points", pts.join(" "));
      line.setAttribute("fill", "none");
      line.style.stroke = s.color;
      line.setAttribute("stroke-width", "2");
      line.setAttribute("vector-effect", "non-scaling-stroke");
      svg.append(line);
    }
    // The newest known value: a second with no request has no latency, not a latency of 0.
    let latest = null;
    for (let i = points.length - 1; i >= 0 && latest === null; i--) latest = s.value(/** @type {UiRatePoint} */ (points[i]));
    const key = el("span", "key", `${s.name} `);
    key.style.setProperty("--k", s.color);
    key.append(el("b", "", latest === null ? "—" : `${shortNum(latest)}${s.unit}`));
    caption.append(key);
  }
  const axis = document.createElementNS(svgNs, "text");
  axis.setAttribute("class", "axis");
  axis.setAttribute("x", String(left));
  axis.setAttribute("y", String(h - 1));
  axis.textContent = points.length < 2 ? "waiting for points…" : `last ${fmtMs(span)}`;
  svg.append(axis);
  figure.replaceChildren(svg, caption);
}

/** 1, 2 or 5 times a power of ten, at least `v`: a y axis a person reads at a glance. */
function niceCeil(/** @type {number} */ v) {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function shortNum(/** @type {number} */ v) {
  if (v >= 10_000) return `${Math.round(v / 1_000)}k`;
  if (v >= 1_000) return `${(v / 1_000).toFixed(1)}k`;
  if (v >= 10 || v === 0) return String(Math.round(v));
  return v.toFixed(v >= 1 ? 1 : 2);
}

function renderCharts(/** @type {UiView} */ view) {
  $("rates-node").textContent = `as ${view.node.id} serves them`;
  lineChart($("chart-rates"), view.rates, [
    { name: "writes/s", color: "var(--chart-a)", value: (p) => p.writesPerS, unit: "" },
    { name: "reads/s", color: "var(--chart-b)", value: (p) => p.readsPerS, unit: "" },
  ]);
  lineChart($("chart-latency"), view.rates, [
    { name: "write p50", color: "var(--chart-a)", value: (p) => p.writeP50Ms, unit: " ms" },
    { name: "write p99", color: "var(--chart-d)", value: (p) => p.writeP99Ms, unit: " ms" },
    { name: "read p50", color: "var(--chart-b)", value: (p) => p.readP50Ms, unit: " ms" },
    { name: "read p99", color: "var(--chart-c)", value: (p) => p.readP99Ms, unit: " ms" },
  ]);
}

function renderEntries(/** @type {UiView} */ view) {
  const body = /** @type {HTMLTableSectionElement} */ (document.querySelector("#entries tbody"));
  body.replaceChildren();
  const entries = view.entries.slice().reverse();
  if (entries.length === 0) {
    const tr = el("tr");
    const td = el("td", "empty", "no entries in memory");
    td.setAttribute("colspan", "5");
    tr.append(td);
    body.append(tr);
  }
  for (const e of entries) {
    const tr = el("tr");
    tr.dataset["kind"] = e.kind;
    tr.dataset["index"] = String(e.index);
    const values = showValues && e.values !== undefined
      ? e.keys.map((k) => {
        const v = e.values?.[k] ?? null;
        return v === null ? `${k} deleted` : `${k}=${JSON.stringify(v)}`;
      }).join(", ")
      : e.summary;
    tr.append(
      el("td", "", String(e.index)),
      el("td", "", String(e.term)),
      el("td", "", e.kind),
      el("td", "keys", e.keys.join(", ")),
      el("td", "summary", values),
    );
    body.append(tr);
  }
}

/** Asks for confirmation in the page's own dialog; resolves true on Confirm. */
function confirmAction(/** @type {string} */ text, /** @type {string} */ okLabel) {
  const dialog = /** @type {HTMLDialogElement} */ ($("confirm"));
  $("confirm-text").textContent = text;
  $("confirm-ok").textContent = okLabel;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
  });
}

let toastTimer = 0;
function toast(/** @type {string} */ text, /** @type {boolean} */ ok) {
  const t = $("toast");
  t.textContent = text;
  t.dataset["ok"] = String(ok);
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (t.hidden = true), 8_000);
}

/**
 * An operator action, after confirmation, sent to the node this page follows (which forwards
 * it to the leader). A page following another origin (its own node died) cannot read that
 * node's answers, so it offers that member's page instead.
 */
async function act(/** @type {"leader" | "remove"} */ kind, /** @type {string} */ id) {
  if (base !== "") {
    const at = lastView?.node.id ?? "another member";
    if (await confirmAction(`This page's node is gone. Open ${at}'s page to act from there?`, `Open ${at}`)) {
      location.href = `${base}/ui`;
    }
    return;
  }
  const text = kind === "leader"
    ? `Hand leadership to ${id}? The current leader stops taking writes while it hands over.`
    : `Remove ${id} from the cluster? It stops being a member; to come back it must join again.`;
  if (!(await confirmAction(text, kind === "leader" ? `Make ${id} leader` : `Remove ${id}`))) return;
  const path = kind === "leader" ? "/leader" : "/remove";
  try {
    const res = await fetch(path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ id }),
    });
    const body = await res.text();
    if (res.ok) {
      toast(kind === "leader" ? `${id} leads now` : `${id} removed`, true);
    } else {
      let message = body;
      try {
        message = /** @type {{ error?: string }} */ (JSON.parse(body)).error ?? body;
      } catch {
        // Not JSON: show the text as it came.
      }
      const why = res.status === 403 ? " (this user lacks the permission)" : "";
      toast(`${res.status}: ${message}${why}`, false);
    }
  } catch (e) {
    toast(`no answer: ${e instanceof Error ? e.message : String(e)}`, false);
  }
}

// Values come with the stream when asked for; with -auth they need the read permission too,
// so a stream refused with them is reopened without.
$("show-values").addEventListener("change", async (ev) => {
  const box = /** @type {HTMLInputElement} */ (ev.target);
  showValues = box.checked;
  if (await follow(base)) return;
  if (showValues) {
    showValues = box.checked = false;
    toast("this node would not show values (with -auth they need the read permission)", false);
    if (await follow(base)) return;
  }
  void failover();
});

setInterval(() => {
  if (source?.readyState === EventSource.OPEN && performance.now() - heardAt > silentMsMax) {
    source.close();
    void failover();
  }
}, 1_000);

setConn("connecting", "connecting…");
void follow("").then((ok) => {
  if (!ok) void failover();
});
