import assert from "node:assert/strict";
import {
  Counter,
  formatNumber,
  Gauge,
  Histogram,
  MAX_SERIES_PER_METRIC,
  MetricsRegistry,
  RaftkvMetrics,
} from "../../src/node/metrics.ts";
import { newStats } from "../../src/transport/transport.ts";
import { parseExposition, valueOf } from "../dashboard/prom_exposition.ts";

const STATUS = {
  id: "n1",
  role: "leader" as const,
  term: 7,
  leader: "n1",
  commitIndex: 42,
  appliedIndex: 41,
};

Deno.test("counters, gauges and histograms render as valid exposition text", () => {
  const registry = new MetricsRegistry();
  const c = registry.register(new Counter("t_requests_total", "Requests.", ["code"]));
  const g = registry.register(new Gauge("t_temperature", "Heat."));
  const h = registry.register(new Histogram("t_seconds", "Time.", [0.1, 1, 10], ["op"]));
  c.inc({ code: "200" });
  c.inc({ code: "200" }, 2);
  c.inc({ code: "500" });
  g.set(-3.5);
  for (const v of [0.05, 0.1, 0.5, 5, 50]) h.observe(v, { op: "put" });
  h.observe(0.2, { op: "get" });
  const families = parseExposition(registry.render());
  assert.equal(families.get("t_requests_total")?.type, "counter");
  assert.equal(families.get("t_requests_total")?.help, "Requests.");
  assert.equal(valueOf(families, "t_requests_total", { code: "200" }), 3);
  assert.equal(valueOf(families, "t_requests_total", { code: "500" }), 1);
  assert.equal(valueOf(families, "t_temperature"), -3.5);
  // Buckets are cumulative: le=0.1 holds 0.05 and 0.1 (bounds are inclusive).
  assert.equal(valueOf(families, "t_seconds_bucket", { op: "put", le: "0.1" }), 2);
  assert.equal(valueOf(families, "t_seconds_bucket", { op: "put", le: "1" }), 3);
  assert.equal(valueOf(families, "t_seconds_bucket", { op: "put", le: "10" }), 4);
  assert.equal(valueOf(families, "t_seconds_bucket", { op: "put", le: "+Inf" }), 5);
  assert.equal(valueOf(families, "t_seconds_count", { op: "put" }), 5);
  assert.equal(valueOf(families, "t_seconds_sum", { op: "put" }), 55.65);
  assert.equal(valueOf(families, "t_seconds_count", { op: "get" }), 1);
});

Deno.test("label values with quotes, backslashes and newlines are escaped and read back", () => {
  const registry = new MetricsRegistry();
  const g = registry.register(new Gauge("t_odd", "Help with \\ and\nnewline.", ["v"]));
  const odd = 'a "quoted" \\ back\nslash';
  g.set(1, { v: odd });
  const families = parseExposition(registry.render());
  assert.equal(families.get("t_odd")?.help, "Help with \\ and\nnewline.");
  assert.equal(families.get("t_odd")?.samples[0]?.labels["v"], odd);
});

Deno.test("special values use the Go spellings +Inf, -Inf and NaN", () => {
  assert.equal(formatNumber(Infinity), "+Inf");
  assert.equal(formatNumber(-Infinity), "-Inf");
  assert.equal(formatNumber(NaN), "NaN");
  assert.equal(formatNumber(0.0005), "0.0005");
  const registry = new MetricsRegistry();
  registry.register(new Gauge("t_inf", "x")).set(Infinity);
  assert.equal(valueOf(parseExposition(registry.render()), "t_inf"), Infinity);
});

Deno.test("a metric keeps a bounded number of label sets and counts the refused ones", () => {
  const registry = new MetricsRegistry();
  const c = registry.register(new Counter("t_many_total", "x", ["k"]));
  for (let i = 0; i < MAX_SERIES_PER_METRIC + 5; i++) c.inc({ k: String(i) });
  const families = parseExposition(registry.render());
  assert.equal(families.get("t_many_total")?.samples.length, MAX_SERIES_PER_METRIC);
  assert.equal(valueOf(families, "raftkv_metrics_series_dropped_total"), 5);
});

Deno.test("misuse is a bug: counters cannot go down, names and buckets are checked", () => {
  assert.throws(() => new Counter("t_bad", "counter without _total"));
  assert.throws(() => new Gauge("0bad", "x"));
  assert.throws(() => new Gauge("t_g", "x", ["le"]));
  assert.throws(() => new Histogram("t_h", "x", [1, 1]));
  assert.throws(() => new Histogram("t_h", "x", [1, Infinity]));
  assert.throws(() => new Counter("t_c_total", "x").inc(undefined, -1));
  assert.throws(() => new Gauge("t_g", "x", ["a"]).set(1, { b: "x" }));
  const registry = new MetricsRegistry();
  registry.register(new Gauge("t_g", "x"));
  assert.throws(() => registry.register(new Gauge("t_g", "x")));
});

Deno.test("raftkv metrics: every required family is present and valid before any work", () => {
  const metrics = new RaftkvMetrics();
  metrics.sampleWith(() => ({ status: STATUS }));
  const families = parseExposition(metrics.render());
  for (
    const name of [
      "raftkv_term",
      "raftkv_leader_changes_total",
      "raftkv_commit_index",
      "raftkv_applied_index",
      "raftkv_is_leader",
      "raftkv_proposals_total",
      "raftkv_proposals_dropped_total",
      "raftkv_append_batch_entries",
      "raftkv_fsync_seconds",
      "raftkv_snapshots_total",
      "raftkv_snapshot_seconds",
      "raftkv_peer_lag_entries",
      "raftkv_peer_send_dropped_total",
      "raftkv_http_requests_total",
      "raftkv_http_request_seconds",
      "raftkv_keys",
      "raftkv_revision",
    ]
  ) {
    assert(families.has(name), `missing ${name}`);
    assert.notEqual(families.get(name)?.help, null, `${name} has no HELP`);
  }
  assert.equal(valueOf(families, "raftkv_term"), 7);
  assert.equal(valueOf(families, "raftkv_is_leader"), 1);
  assert.equal(valueOf(families, "raftkv_commit_index"), 42);
  assert.equal(valueOf(families, "raftkv_applied_index"), 41);
});

Deno.test("raftkv metrics: observations move their counters and histograms", () => {
  const metrics = new RaftkvMetrics();
  metrics.observeProposal(true);
  metrics.observeProposal(true);
  metrics.observeProposal(false);
  metrics.observePersist(8, 0.003);
  metrics.observePersist(0, 0.001); // a hard-state-only save: an fsync, not a batch
  metrics.observeSnapshot(0.2);
  metrics.observeHttp("/v1/kv/*", "PUT", 200, 0.004);
  const families = parseExposition(metrics.render());
  assert.equal(valueOf(families, "raftkv_proposals_total"), 2);
  assert.equal(valueOf(families, "raftkv_proposals_dropped_total"), 1);
  assert.equal(valueOf(families, "raftkv_append_batch_entries_count"), 1);
  assert.equal(valueOf(families, "raftkv_append_batch_entries_sum"), 8);
  assert.equal(valueOf(families, "raftkv_append_batch_entries_bucket", { le: "4" }), 0);
  assert.equal(valueOf(families, "raftkv_append_batch_entries_bucket", { le: "8" }), 1);
  assert.equal(valueOf(families, "raftkv_fsync_seconds_count"), 2);
  assert.equal(valueOf(families, "raftkv_snapshots_total"), 1);
  assert.equal(valueOf(families, "raftkv_snapshot_seconds_count"), 1);
  assert.equal(
    valueOf(families, "raftkv_http_requests_total", {
      route: "/v1/kv/*",
      method: "PUT",
      status: "200",
    }),
    1,
  );
});

Deno.test("raftkv metrics: a leader change counts once per new known leader", () => {
  const metrics = new RaftkvMetrics();
  for (const leader of [null, "n1", "n1", null, null, "n2", "n2", "n2", "n1"]) {
    metrics.observeLeader(leader);
  }
  // null→n1, null→n2, n2→n1; repeats of the same leader are not changes.
  assert.equal(metrics.leaderChanges.get(), 3);
});

Deno.test("raftkv metrics: scrape-time samples set gauges and removed peers disappear", () => {
  const metrics = new RaftkvMetrics();
  const transport = newStats();
  transport.sent = 10;
  transport.received = 9;
  transport.dropped = 4;
  transport.droppedQueueFull = 3;
  let members = [
    { id: "n1", lag: 0 },
    { id: "n2", lag: 5 },
    { id: "n3", lag: null },
  ];
  metrics.sampleWith(() => ({
    status: STATUS,
    members,
    transport,
    peerSendDropped: { n2: 2 },
    keys: 12,
    revision: 30,
  }));
  let families = parseExposition(metrics.render());
  assert.equal(valueOf(families, "raftkv_peer_lag_entries", { peer: "n2" }), 5);
  // Self is not a peer; an unknown lag is left out rather than reported as 0.
  assert.equal(families.get("raftkv_peer_lag_entries")?.samples.length, 1);
  assert.equal(valueOf(families, "raftkv_peer_send_dropped_total", { peer: "n2" }), 2);
  assert.equal(valueOf(families, "raftkv_transport_dropped_total", { reason: "queue_full" }), 3);
  assert.equal(valueOf(families, "raftkv_transport_dropped_total", { reason: "lost_write" }), 1);
  assert.equal(valueOf(families, "raftkv_transport_messages_total", { direction: "sent" }), 10);
  assert.equal(valueOf(families, "raftkv_keys"), 12);
  assert.equal(valueOf(families, "raftkv_revision"), 30);
  members = [{ id: "n1", lag: 0 }, { id: "n3", lag: 1 }];
  families = parseExposition(metrics.render());
  assert.equal(valueOf(families, "raftkv_peer_lag_entries", { peer: "n2" }), 0);
  assert.equal(families.get("raftkv_peer_lag_entries")?.samples.length, 1);
  assert.equal(valueOf(families, "raftkv_peer_lag_entries", { peer: "n3" }), 1);
});

Deno.test("a failing collector is skipped: the scrape still answers", () => {
  const metrics = new RaftkvMetrics();
  metrics.sampleWith(() => {
    throw new Error("node is stopping");
  });
  const originalError = console.error;
  const logged: unknown[] = [];
  console.error = (...args: unknown[]) => logged.push(args);
  try {
    parseExposition(metrics.render());
  } finally {
    console.error = originalError;
  }
  assert.equal(logged.length, 1);
});
