/**
 * The dashboard served at `GET /`: one self-contained HTML page (inline CSS and JS, no
 * external assets, no build step). Every second it reads `/v1/cluster` (forwarded to
 * the leader, so it follows leader changes), `/v1/status` and `/metrics` from the node
 * that served it, and draws members, roles, lag and write/read rates on `<canvas>`.
 *
 * Data reaches the DOM only through `textContent` and attributes, never `innerHTML`,
 * so member ids or URLs cannot inject markup.
 *
 * @module
 */

/** Points kept per rate chart (one per second). */
export const DASHBOARD_HISTORY_POINTS = 90;

/** Milliseconds between refreshes. */
export const DASHBOARD_REFRESH_MS = 1_000;

/** The page. String.raw keeps the page's own backslashes (regexes) intact. */
export const DASHBOARD_HTML: string = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>raftkv dashboard</title>
<style>
  :root { --bg:#0f1419; --panel:#171d24; --line:#2a333d; --text:#d8dee6; --dim:#8a96a3;
          --ok:#3fb950; --warn:#d29922; --bad:#f85149; --accent:#58a6ff; --learner:#bc8cff; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif;
         background:var(--bg); color:var(--text); }
  header { display:flex; align-items:center; gap:16px; padding:12px 20px;
           border-bottom:1px solid var(--line); flex-wrap:wrap; }
  header h1 { font-size:18px; margin:0; letter-spacing:.5px; }
  header .dim { color:var(--dim); }
  #status-dot { width:10px; height:10px; border-radius:50%; background:var(--dim); display:inline-block; }
  #status-dot.ok { background:var(--ok); } #status-dot.bad { background:var(--bad); }
  #auth { margin-left:auto; display:none; gap:6px; align-items:center; }
  #auth.shown { display:flex; }
  input, button { font:inherit; background:var(--panel); color:var(--text);
                  border:1px solid var(--line); border-radius:4px; padding:4px 8px; }
  button { cursor:pointer; }
  main { padding:16px 20px; display:grid; gap:16px; grid-template-columns:repeat(12, 1fr); }
  .panel { background:var(--panel); border:1px solid var(--line); border-radius:6px; padding:12px 14px; }
  .panel h2 { font-size:12px; text-transform:uppercase; letter-spacing:1px; color:var(--dim);
              margin:0 0 8px; font-weight:600; }
  .cards { grid-column:span 12; display:grid; grid-template-columns:repeat(5, 1fr); gap:16px; }
  .card .value { font-size:26px; font-variant-numeric:tabular-nums; font-weight:600; white-space:nowrap; }
  .card .sub { color:var(--learner); font-size:12px; min-height:16px; }
  .members { grid-column:span 12; }
  .chart { grid-column:span 6; }
  .events { grid-column:span 12; }
  table { width:100%; border-collapse:collapse; font-variant-numeric:tabular-nums; }
  th, td { text-align:left; padding:6px 8px; border-bottom:1px solid var(--line); white-space:nowrap; }
  th { color:var(--dim); font-weight:500; font-size:12px; }
  tr.leader td:first-child { border-left:3px solid var(--ok); }
  .badge { display:inline-block; padding:1px 8px; border-radius:10px; font-size:12px;
           border:1px solid var(--line); }
  .badge.leader { color:var(--ok); border-color:var(--ok); }
  .badge.learner { color:var(--learner); border-color:var(--learner); }
  .badge.down { color:var(--bad); border-color:var(--bad); }
  .bar { position:relative; width:220px; height:12px; background:#0b0f13; border-radius:3px;
         overflow:hidden; display:inline-block; vertical-align:middle; }
  .bar > span { position:absolute; left:0; top:0; bottom:0; background:var(--accent); }
  .bar.lag > span { background:var(--warn); }
  .bar.lag.zero > span { background:var(--ok); }
  .num { display:inline-block; min-width:70px; text-align:right; margin-left:8px; }
  canvas { width:100%; height:180px; display:block; }
  .legend { display:flex; gap:14px; font-size:12px; color:var(--dim); margin-top:6px; }
  .legend i { display:inline-block; width:10px; height:10px; border-radius:2px; margin-right:4px; }
  #error { grid-column:span 12; display:none; color:var(--bad); }
  #error.shown { display:block; }
  #events { list-style:none; margin:0; padding:0; max-height:140px; overflow:auto;
            font-family:ui-monospace, monospace; font-size:12px; color:var(--dim); }
  @media (max-width: 900px) { .chart { grid-column:span 12; } .cards { grid-template-columns:repeat(2, 1fr); } }
</style>
</head>
<body>
<header>
  <h1>raftkv</h1>
  <span><span id="status-dot"></span> <span id="cluster-id" class="dim">…</span></span>
  <span class="dim">served by <b id="self">…</b> (<span id="self-role">…</span>)</span>
  <span class="dim">updated <span id="updated">never</span></span>
  <form id="auth">
    <label for="token" class="dim">bearer token</label>
    <input id="token" type="password" autocomplete="off" size="24">
    <button type="submit">use</button>
  </form>
</header>
<main>
  <div id="error" class="panel"></div>
  <section class="cards">
    <div class="panel card"><h2>Leader</h2><div class="value" id="leader">…</div></div>
    <div class="panel card"><h2>Term</h2><div class="value" id="term">…</div></div>
    <div class="panel card"><h2>Commit index</h2><div class="value" id="commit">…</div></div>
    <div class="panel card"><h2>Members</h2><div class="value" id="member-count">…</div>
      <div class="sub" id="learner-count"></div></div>
    <div class="panel card"><h2>Keys / revision</h2><div class="value" id="keys">…</div></div>
  </section>
  <section class="panel members">
    <h2>Members (leader's view)</h2>
    <table>
      <thead><tr><th>Member</th><th>Role</th><th>State</th><th>Match index</th>
        <th>Lag (entries)</th><th>Catch-up</th><th>Last contact</th><th>HTTP</th></tr></thead>
      <tbody id="members"></tbody>
    </table>
  </section>
  <section class="panel chart">
    <h2>Writes per second</h2>
    <canvas id="writes-chart"></canvas>
    <div class="legend"><span><i style="background:#58a6ff"></i>entries committed (cluster)</span>
      <span><i style="background:#d29922"></i>write requests (this node)</span>
      <span id="writes-now"></span></div>
  </section>
  <section class="panel chart">
    <h2>Reads per second (this node)</h2>
    <canvas id="reads-chart"></canvas>
    <div class="legend"><span><i style="background:#3fb950"></i>read requests</span>
      <span id="reads-now"></span></div>
  </section>
  <section class="panel events">
    <h2>Events</h2>
    <ul id="events"></ul>
  </section>
</main>
<script>
"use strict";
const HISTORY = __HISTORY__;
const REFRESH_MS = __REFRESH_MS__;
const EVENTS_KEPT = 50;
const $ = (id) => document.getElementById(id);
const state = {
  token: sessionStorage.getItem("raftkv-token") || "",
  prev: null,
  series: { commits: [], writes: [], reads: [] },
  leader: undefined,
  term: undefined,
  members: new Map(),
  busy: false,
};

$("auth").addEventListener("submit", (e) => {
  e.preventDefault();
  state.token = $("token").value.trim();
  sessionStorage.setItem("raftkv-token", state.token);
  refresh();
});
if (state.token) $("auth").classList.add("shown");

async function get(path) {
  const headers = state.token ? { authorization: "Bearer " + state.token } : {};
  const res = await fetch(path, { headers, cache: "no-store", signal: AbortSignal.timeout(2500) });
  if (res.status === 401 || res.status === 403) {
    $("auth").classList.add("shown");
    throw new Error(path + ": " + res.status + " (enter a read token above)");
  }
  if (!res.ok) throw new Error(path + ": HTTP " + res.status + " " + (await res.text()).slice(0, 200));
  return res;
}

/** Prometheus text format: [{name, labels, value}]. */
function parseMetrics(text) {
  const out = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
    let l;
    while ((l = re.exec(m[2] || "")) !== null) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

function total(samples, name, keep) {
  let sum = 0;
  for (const s of samples) if (s.name === name && (!keep || keep(s.labels))) sum += s.value;
  return sum;
}

const isKv = (l) => l.route === "/v1/kv" || l.route === "/v1/kv/*";
const isWrite = (l) => isKv(l) && (l.method === "PUT" || l.method === "DELETE" || l.method === "POST");
const isRead = (l) => isKv(l) && (l.method === "GET" || l.method === "HEAD");

function pushRate(key, now, prev, value, prevValue) {
  const list = state.series[key];
  if (prev !== null) {
    const dt = (now - prev) / 1000;
    // A restarted node's counters start over: show 0, not a negative spike.
    list.push(dt > 0 ? Math.max(0, (value - prevValue) / dt) : 0);
    if (list.length > HISTORY) list.shift();
  }
  return list.length ? list[list.length - 1] : 0;
}

function event(text) {
  const li = document.createElement("li");
  li.textContent = new Date().toLocaleTimeString() + "  " + text;
  const ul = $("events");
  ul.insertBefore(li, ul.firstChild);
  while (ul.children.length > EVENTS_KEPT) ul.removeChild(ul.lastChild);
}

function cell(tr, text, cls) {
  const td = document.createElement("td");
  if (text instanceof Node) td.appendChild(text); else td.textContent = text;
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

function badge(text, cls) {
  const b = document.createElement("span");
  b.className = "badge " + (cls || "");
  b.textContent = text;
  return b;
}

function bar(fraction, label, cls) {
  const wrap = document.createElement("span");
  const b = document.createElement("span");
  b.className = "bar " + (cls || "");
  const fill = document.createElement("span");
  // A sliver even at 0, so a caught-up member shows green rather than nothing.
  fill.style.width = Math.max(2, Math.min(1, fraction) * 100).toFixed(1) + "%";
  b.appendChild(fill);
  const n = document.createElement("span");
  n.className = "num";
  n.textContent = label;
  wrap.append(b, n);
  return wrap;
}

function renderCluster(c) {
  $("cluster-id").textContent = "cluster " + c.clusterId;
  $("leader").textContent = c.leader === null ? "none" : c.leader;
  $("term").textContent = String(c.term);
  $("commit").textContent = String(c.commitIndex);
  const voters = c.members.filter((m) => m.role === "voter").length;
  const learners = c.members.length - voters;
  $("member-count").textContent = voters + (voters === 1 ? " voter" : " voters");
  $("learner-count").textContent = learners === 0 ? "" : "+ " + learners + (learners === 1 ? " learner" : " learners");
  if (state.leader !== undefined && c.leader !== state.leader) {
    event("leader changed: " + (state.leader || "none") + " → " + (c.leader || "none") + " (term " + c.term + ")");
  }
  state.leader = c.leader;
  const leaderInfo = c.members.find((m) => m.id === c.leader);
  const lastIndex = leaderInfo && leaderInfo.matchIndex !== null ? leaderInfo.matchIndex : c.commitIndex;
  const maxLag = Math.max(10, ...c.members.map((m) => m.lag || 0));
  const tbody = $("members");
  const rows = [];
  for (const m of c.members) {
    const tr = document.createElement("tr");
    tr.dataset.id = m.id;
    tr.dataset.role = m.role;
    tr.dataset.leader = String(m.id === c.leader);
    tr.dataset.lag = m.lag === null ? "" : String(m.lag);
    if (m.id === c.leader) tr.className = "leader";
    cell(tr, m.id);
    cell(tr, badge(m.role, m.role === "learner" ? "learner" : ""));
    const stateText = m.id === c.leader
      ? "leader"
      : m.reachable === false
      ? "unreachable"
      : m.role === "learner"
      ? "replicating"
      : "follower";
    cell(tr, badge(stateText, m.id === c.leader ? "leader" : m.reachable === false ? "down" : ""));
    cell(tr, m.matchIndex === null ? "–" : String(m.matchIndex));
    cell(tr, m.lag === null ? "–" : bar(m.lag / maxLag, String(m.lag), "lag" + (m.lag === 0 ? " zero" : "")));
    const progress = m.matchIndex === null || lastIndex <= 0 ? null : m.matchIndex / lastIndex;
    cell(tr, progress === null ? "–" : bar(progress, (progress * 100).toFixed(progress < 1 ? 1 : 0) + "%"));
    cell(tr, m.lastContactMs === null ? "–" : m.lastContactMs + " ms");
    cell(tr, m.httpUrl || "–");
    rows.push(tr);
    const before = state.members.get(m.id);
    if (before === undefined && state.members.size > 0) event("member added: " + m.id + " (" + m.role + ")");
    else if (before && before.role !== m.role) event(m.id + " is now a " + m.role);
    if (before && before.reachable !== false && m.reachable === false) event(m.id + " unreachable");
  }
  for (const id of state.members.keys()) {
    if (!c.members.some((m) => m.id === id)) event("member removed: " + id);
  }
  state.members = new Map(c.members.map((m) => [m.id, m]));
  tbody.replaceChildren(...rows);
}

function drawChart(canvas, lines) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  if (canvas.width !== w * dpr || canvas.height !== h * dpr) {
    canvas.width = w * dpr;
    canvas.height = h * dpr;
  }
  const g = canvas.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  const pad = { l: 44, r: 8, t: 8, b: 18 };
  let top = 1;
  for (const l of lines) for (const v of l.data) top = Math.max(top, v);
  const { max, steps } = niceScale(top);
  g.strokeStyle = "#2a333d";
  g.fillStyle = "#8a96a3";
  g.font = "11px system-ui, sans-serif";
  g.lineWidth = 1;
  for (let i = 0; i <= steps; i++) {
    const y = pad.t + (h - pad.t - pad.b) * (i / steps);
    g.beginPath(); g.moveTo(pad.l, y); g.lineTo(w - pad.r, y); g.stroke();
    g.fillText(formatRate(max * (1 - i / steps)), 4, y + 4);
  }
  g.fillText("-" + HISTORY + "s", pad.l, h - 4);
  g.fillText("now", w - pad.r - 22, h - 4);
  const x = (i) => pad.l + (w - pad.l - pad.r) * (i / (HISTORY - 1));
  const y = (v) => pad.t + (h - pad.t - pad.b) * (1 - v / max);
  for (const l of lines) {
    const offset = HISTORY - l.data.length;
    g.strokeStyle = l.color;
    g.lineWidth = 2;
    g.beginPath();
    l.data.forEach((v, i) => (i === 0 ? g.moveTo(x(i + offset), y(v)) : g.lineTo(x(i + offset), y(v))));
    g.stroke();
  }
}

/** A round axis maximum at or above v, and a step count that keeps tick labels round. */
function niceScale(v) {
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return { max: m * p, steps: m === 2 ? 4 : 5 };
  return { max: 10 * p, steps: 5 };
}

function formatRate(v) {
  v = Math.round(v * 1000) / 1000; // 50 * 0.2 is 9.999…: label it 10
  return v >= 1000 ? (v / 1000).toFixed(1) + "k" : v >= 10 ? v.toFixed(0) : v.toFixed(1);
}

function renderRates(samples, cluster) {
  const now = performance.now();
  const commit = cluster ? cluster.commitIndex : total(samples, "raftkv_commit_index");
  const writes = total(samples, "raftkv_http_requests_total", isWrite);
  const reads = total(samples, "raftkv_http_requests_total", isRead);
  const p = state.prev;
  const prevT = p === null ? null : p.t;
  const c = pushRate("commits", now, prevT, commit, p && p.commit);
  const w = pushRate("writes", now, prevT, writes, p && p.writes);
  const r = pushRate("reads", now, prevT, reads, p && p.reads);
  state.prev = { t: now, commit, writes, reads };
  $("writes-now").textContent = "now: " + formatRate(c) + " committed/s, " + formatRate(w) + " req/s";
  $("reads-now").textContent = "now: " + formatRate(r) + " req/s";
  drawChart($("writes-chart"), [
    { data: state.series.commits, color: "#58a6ff" },
    { data: state.series.writes, color: "#d29922" },
  ]);
  drawChart($("reads-chart"), [{ data: state.series.reads, color: "#3fb950" }]);
  const keys = total(samples, "raftkv_keys");
  const revision = total(samples, "raftkv_revision");
  $("keys").textContent = keys + " / " + revision;
}

async function refresh() {
  if (state.busy) return;
  state.busy = true;
  const problems = [];
  try {
    const [cluster, status, metrics] = await Promise.allSettled([
      get("/v1/cluster").then((r) => r.json()),
      get("/v1/status").then((r) => r.json()),
      get("/metrics").then((r) => r.text()),
    ]);
    let clusterInfo = null;
    if (cluster.status === "fulfilled") {
      clusterInfo = cluster.value;
      renderCluster(clusterInfo);
    } else problems.push(String(cluster.reason && cluster.reason.message || cluster.reason));
    if (status.status === "fulfilled") {
      $("self").textContent = status.value.id;
      $("self-role").textContent = status.value.role + ", applied " + status.value.appliedIndex;
      if (clusterInfo === null) {
        $("leader").textContent = status.value.leader === null ? "none" : status.value.leader;
        $("term").textContent = String(status.value.term);
      }
    } else problems.push(String(status.reason && status.reason.message || status.reason));
    if (metrics.status === "fulfilled") renderRates(parseMetrics(metrics.value), clusterInfo);
    else problems.push(String(metrics.reason && metrics.reason.message || metrics.reason));
  } finally {
    state.busy = false;
  }
  $("error").textContent = problems.join(" · ");
  $("error").classList.toggle("shown", problems.length > 0);
  $("status-dot").className = problems.length === 0 ? "ok" : "bad";
  $("updated").textContent = new Date().toLocaleTimeString();
  document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || 0) + 1);
}

refresh();
setInterval(refresh, REFRESH_MS);
</script>
</body>
</html>
`.replace("__HISTORY__", String(DASHBOARD_HISTORY_POINTS))
  .replace("__REFRESH_MS__", String(DASHBOARD_REFRESH_MS));
