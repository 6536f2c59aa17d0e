// The MLOS web console (docs/console.md): models and their live statistics, lifecycle actions
// with a confirmation, charts of the last minute, plugins and recent audit events. Data from
// mlosd's API: /models, /stats, /stats/live, /plugins, /audit, /health.
import { ApiError, get, post, saveToken, savedToken, segment } from "./api.js";
import { LineChart, niceCeil } from "./charts.js";

const POLL_MS = 1000;
const PLUGINS_EVERY = 10; // polls
const AUDIT_EVERY = 3;
const MEMORY_WINDOW_S = 60;

const $ = (id) => document.getElementById(id);

// ---- formatting ----
function bytes(n) {
  if (n == null) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 100 || i === 0 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}
function ms(v) {
  if (v == null) return "–";
  if (v >= 1000) return `${(v / 1000).toFixed(2)} s`;
  if (v >= 10) return `${Math.round(v)} ms`;
  if (v >= 1) return `${v.toFixed(1)} ms`;
  return `${v.toFixed(2)} ms`;
}
function rate(v) {
  if (v == null) return "–";
  return v >= 100 ? String(Math.round(v)) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}
function duration(s) {
  if (s == null) return "–";
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60), sec = Math.floor(s % 60);
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${sec}s`;
  return `${sec}s`;
}
// Axis labels: at most 3 significant digits, "k" from 1000.
function axisNumber(v) {
  if (v >= 1000) return `${Number((v / 1000).toPrecision(3))}k`;
  return String(Number(v.toPrecision(3)));
}
// A grid step for bytes: a nice number of the largest binary unit that fits.
function byteStep(max) {
  let unit = 1;
  while (unit * 1024 <= max / 4) unit *= 1024;
  return niceCeil(max / 4 / unit) * unit;
}
function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) e.append(c);
  return e;
}

// ---- state ----
const state = {
  entered: false,
  timer: null,
  polls: 0,
  models: [],
  live: null,
  stats: null,
  memory: [], // [{t, used, budget}] sampled by this page
  busy: false,
  auditDenied: false,
};

const charts = {};

function setStatus(ok, text) {
  const s = $("status");
  s.textContent = text;
  s.className = `status ${ok ? "ok" : "bad"}`;
}

// ---- login ----
function showLogin(message) {
  stopPolling();
  state.entered = false;
  $("console").hidden = true;
  $("signout").hidden = true;
  $("login").hidden = false;
  const err = $("login-error");
  err.textContent = message || "";
  err.hidden = !message;
  setStatus(false, "signed out");
  $("token").focus();
}

function enter() {
  state.entered = true;
  state.auditDenied = false;
  $("login").hidden = true;
  $("console").hidden = false;
  $("signout").hidden = !savedToken();
  document.body.dataset.view = "console";
  startPolling();
}

async function tryToken(token) {
  try {
    await get("/models", { token });
    return null;
  } catch (e) {
    return e;
  }
}

async function onLogin(event) {
  event.preventDefault();
  const token = $("token").value.trim();
  const button = $("login-submit");
  button.disabled = true;
  const err = await tryToken(token);
  button.disabled = false;
  if (!err) {
    saveToken(token);
    $("token").value = "";
    enter();
    return;
  }
  const refused = err.status === 401 || err.status === 403;
  showLogin(refused ? `The token was refused: ${err.message}` : `Cannot reach mlosd: ${err.message}`);
}

function onSignOut() {
  saveToken("");
  showLogin("");
}

// An answer that says the token is no longer good ends the session.
function checkAuth(e) {
  if (e instanceof ApiError && e.status === 401) {
    saveToken("");
    showLogin(`Signed out: ${e.message}`);
    return true;
  }
  return false;
}

// ---- polling ----
function startPolling() {
  stopPolling();
  state.polls = 0;
  refresh();
}
function stopPolling() {
  if (state.timer) clearTimeout(state.timer);
  state.timer = null;
}

async function refresh() {
  if (!state.entered) return;
  stopPolling();
  const n = state.polls++;
  const calls = [get("/models"), get("/stats/live"), get("/stats")];
  if (n % PLUGINS_EVERY === 0) calls.push(get("/plugins"));
  else calls.push(Promise.resolve(null));
  if (n % AUDIT_EVERY === 0 && !state.auditDenied) calls.push(get("/audit?limit=50"));
  else calls.push(Promise.resolve(undefined));
  const [models, live, stats, plugins, audit] = await Promise.allSettled(calls);
  if (!state.entered) return;
  for (const r of [models, live, stats, plugins, audit]) {
    if (r.status === "rejected" && checkAuth(r.reason)) return;
  }
  if (models.status === "fulfilled") state.models = models.value.models || [];
  if (live.status === "fulfilled") {
    state.live = live.value;
    sampleMemory(live.value);
  }
  if (stats.status === "fulfilled") state.stats = stats.value;
  render();
  if (plugins.status === "fulfilled" && plugins.value) renderPlugins(plugins.value.plugins || []);
  if (audit.status === "fulfilled" && audit.value !== undefined) renderAudit(audit.value, null);
  if (audit.status === "rejected") {
    // Not an admin: asking again every few seconds would only be refused again.
    state.auditDenied = audit.reason.status === 403;
    renderAudit(null, audit.reason);
  }
  const failed = [models, live, stats].find((r) => r.status === "rejected");
  if (failed) {
    setStatus(false, `error: ${failed.reason.message}`);
  } else {
    setStatus(true, `live · ${new Date().toLocaleTimeString()}`);
  }
  document.body.dataset.refreshes = String(state.polls);
  state.timer = setTimeout(refresh, POLL_MS);
}

function sampleMemory(live) {
  const t = live.now_unix_ms / 1000;
  state.memory.push({ t, used: live.memory_used_bytes, budget: live.memory_budget_bytes });
  while (state.memory.length && state.memory[0].t < t - MEMORY_WINDOW_S) state.memory.shift();
}

// ---- rendering ----
function liveFor(id) {
  const models = state.live ? state.live.models : [];
  return models.find((m) => m.model === id) || null;
}

function render() {
  renderCards();
  renderModels();
  renderCharts();
}

function renderCards() {
  const s = state.stats, live = state.live;
  $("card-models").textContent = s ? `${s.models_ready} / ${s.models_registered}` : "–";
  $("card-rps").textContent = live && live.total ? rate(live.total.requests_per_s) : "–";
  $("card-p99").textContent = live && live.total ? ms(live.total.p99_ms) : "–";
  if (live) {
    const budget = live.memory_budget_bytes;
    $("card-memory").textContent = `${bytes(live.memory_used_bytes)} / ${budget ? bytes(budget) : "none"}`;
  }
  $("card-uptime").textContent = s ? duration(s.uptime_s) : "–";
}

// The row's actions: [action, label, enabled, confirmation text].
function actionsFor(m) {
  const loaded = m.state === "READY" || m.state === "LOADING";
  return [
    loaded
      ? ["unload", "Unload", m.state === "READY", `Unload ${m.id}? Requests to it will fail until it is loaded again.`]
      : ["load", "Load", m.state !== "UNLOADING", `Load ${m.id}?`],
    ["default", "Set default", !m.is_default, `Make ${m.id} the default version of ${m.name}?`],
    ["rollback", "Rollback", true, `Roll ${m.name} back to its previous default version?`],
    m.pinned
      ? ["unpin", "Unpin", true, `Unpin ${m.id}? It may then be evicted or unloaded when idle.`]
      : ["pin", "Pin", true, `Pin ${m.id}? It will never be evicted or unloaded when idle.`],
  ];
}

function renderModels() {
  const body = $("models").tBodies[0];
  const seen = new Set();
  const models = [...state.models].sort((a, b) => a.id.localeCompare(b.id));
  for (const m of models) {
    seen.add(m.id);
    let tr = body.querySelector(`tr[data-model="${CSS.escape(m.id)}"]`);
    if (!tr) {
      tr = el("tr", { "data-model": m.id });
      for (const cls of ["name", "version", "state", "default", "aliases", "memory num", "load num",
        "rps num", "p50 num", "p99 num", "errors num", "actions"]) {
        tr.append(el("td", { class: cls }));
      }
      for (let i = 0; i < 4; i++) {
        const b = el("button", { type: "button" });
        b.addEventListener("click", () => onAction(m.id, b));
        tr.cells[11].append(b);
      }
      body.append(tr);
    }
    tr.dataset.state = m.state;
    const L = liveFor(m.id);
    const c = tr.cells;
    c[0].textContent = m.name;
    c[0].title = m.description || m.path || "";
    c[1].textContent = m.version;
    c[2].replaceChildren(el("span", { class: `state state-${m.state}`, text: m.state }));
    c[2].title = m.reason || "";
    c[3].textContent = m.is_default ? "✓" : "";
    c[4].replaceChildren(...(m.aliases || []).map((a) => el("span", { class: "tag", text: a })));
    c[5].textContent = m.memory_bytes ? bytes(m.memory_bytes) : "–";
    c[6].textContent = m.load_time_ms ? ms(m.load_time_ms) : "–";
    c[7].textContent = L ? rate(L.requests_per_s) : "0";
    c[8].textContent = L ? ms(L.p50_ms) : "–";
    c[9].textContent = L ? ms(L.p99_ms) : "–";
    c[10].textContent = L ? String(L.errors) : "0";
    c[10].title = L ? `${L.errors} in the last minute, ${L.errors_total} since start` : "none";
    const buttons = c[11].querySelectorAll("button");
    actionsFor(m).forEach(([action, label, enabled, question], i) => {
      const b = buttons[i];
      b.dataset.action = action;
      b.dataset.question = question;
      b.textContent = label;
      b.disabled = !enabled || state.busy;
    });
  }
  for (const tr of [...body.rows]) if (!seen.has(tr.dataset.model)) tr.remove();
  $("models-empty").hidden = models.length > 0;
}

function renderCharts() {
  const live = state.live;
  if (!live) return;
  const s = live.series;
  charts.throughput.set(s.unix_s, [s.requests, s.errors]);
  charts.latency.set(s.unix_s, [s.p50_ms, s.p99_ms]);
  const mem = state.memory;
  const budget = mem.length ? mem[mem.length - 1].budget : 0;
  const used = mem.reduce((m, p) => Math.max(m, p.used), 0);
  // The budget as a line while it is in sight (within 4x the use), else named in the legend.
  const near = budget && budget <= 4 * used;
  charts.memory.set(mem.map((p) => p.t), [mem.map((p) => p.used)],
    near ? [{ value: budget, name: `budget ${bytes(budget)}`, color: "#c0262d" }] : [],
    budget && !near ? [`budget ${bytes(budget)} (above the chart)`] : budget ? [] : ["no budget"]);
}

function renderPlugins(plugins) {
  const body = $("plugins").tBodies[0];
  body.replaceChildren(...plugins.map((p) => el("tr", { "data-plugin": p.name },
    el("td", { text: p.name }), el("td", { text: p.version }), el("td", { text: p.framework }),
    el("td", { text: (p.execution_formats || []).join(", ") }),
    el("td", { text: (p.capabilities || []).join(", ") }))));
}

function renderAudit(answer, error) {
  const note = $("audit-note");
  const table = $("audit");
  if (error) {
    table.hidden = true;
    note.hidden = false;
    note.textContent = error.status === 403
      ? "Only admins may read the audit log."
      : `The audit log cannot be read: ${error.message}`;
    return;
  }
  const events = [...(answer.events || [])].reverse();
  table.hidden = events.length === 0;
  note.hidden = events.length > 0;
  note.textContent = "No audit events yet.";
  table.tBodies[0].replaceChildren(...events.map((e) => el("tr", {},
    el("td", { text: e.time ? new Date(e.time).toLocaleTimeString() : "", title: e.time || "" }),
    el("td", { text: e.principal || "" }),
    el("td", { text: e.action || "" }),
    el("td", { text: e.model || "" }),
    el("td", { class: `outcome-${e.outcome}`, text: e.outcome || "" }),
    el("td", { text: e.protocol || "" }),
    el("td", { class: "reason", text: e.reason || "" }))));
}

// ---- actions ----
function confirmAction(question) {
  const dialog = $("confirm");
  $("confirm-text").textContent = question;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
  });
}

async function onAction(id, button) {
  const action = button.dataset.action;
  const m = state.models.find((x) => x.id === id);
  if (!m || !(await confirmAction(button.dataset.question))) return;
  const target = action === "rollback" ? segment(m.name) : segment(m.id);
  const err = $("action-error");
  err.hidden = true;
  state.busy = true;
  renderModels();
  try {
    await post(`/models/${target}/${action}`);
  } catch (e) {
    if (checkAuth(e)) return;
    $("action-error-text").textContent = `${action} ${action === "rollback" ? m.name : m.id}: ${e.message}`;
    err.hidden = false;
  } finally {
    state.busy = false;
  }
  state.polls = 0; // the audit list too
  await refresh();
}

// ---- start ----
async function start() {
  charts.throughput = new LineChart($("chart-throughput"), {
    series: [{ name: "requests/s", color: "#2f6fde" }, { name: "errors/s", color: "#c0262d" }],
    format: axisNumber,
  });
  charts.latency = new LineChart($("chart-latency"), {
    series: [{ name: "p50", color: "#16803c" }, { name: "p99", color: "#b25e09" }],
    format: (v) => (v >= 1000 ? `${axisNumber(v / 1000)} s` : axisNumber(v)),
  });
  charts.memory = new LineChart($("chart-memory"), {
    series: [{ name: "used", color: "#6941c6" }],
    format: (v) => bytes(v).replace(".0 ", " "),
    step: byteStep,
  });
  $("login-form").addEventListener("submit", onLogin);
  $("signout").addEventListener("click", onSignOut);
  $("action-error-close").addEventListener("click", () => { $("action-error").hidden = true; });
  window.addEventListener("resize", () => state.live && renderCharts());
  get("/health").then((h) => { $("server").textContent = `${h.service} ${h.version}`; }, () => {});
  await connect();
}

async function connect() {
  // With auth off, or a token saved in this tab, the console opens at once.
  const err = await tryToken(undefined);
  if (!err) return enter();
  if (err.status === 401) return showLogin(savedToken() ? `Signed out: ${err.message}` : "");
  setStatus(false, `error: ${err.message}`);
  setTimeout(connect, 2000);
}

start();
