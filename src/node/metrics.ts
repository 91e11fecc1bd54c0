/**
 * Metrics: a small registry of counters, gauges and fixed-bucket histograms that
 * renders the Prometheus text exposition format 0.0.4, and {@link RaftkvMetrics}, the
 * one set of raftkv metrics a node records and `GET /metrics` serves.
 *
 * Written here rather than taken from `prom-client` (which does run under Deno): the
 * registry is ~200 lines, renders synchronously, and brings no default process
 * collectors or Node globals along.
 *
 * @example
 * ```ts
 * const metrics = new RaftkvMetrics();
 * metrics.observeProposal(true);
 * metrics.sampleWith(() => ({ status: node.status() }));
 * const text = metrics.render(); // "# HELP raftkv_term ..."
 * ```
 *
 * @module
 */

import { assert } from "../assert.ts";
import type { NodeStatus } from "../http/node_api.ts";
import type { TransportStats } from "../transport/transport.ts";

/** Most label combinations one metric keeps; further new ones are dropped and counted. */
export const MAX_SERIES_PER_METRIC = 1_000;

/** Most scrape-time collectors a registry accepts (a guard against leaks). */
export const MAX_COLLECTORS = 16;

/** Label values by label name. */
export type Labels = Readonly<Record<string, string>>;

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** What a registry needs of a metric. */
export interface RenderableMetric {
  /** Metric family name. */
  readonly name: string;
  /** Label sets refused by the series limit. */
  readonly droppedSeries: number;
  /** HELP, TYPE and sample lines. */
  render(): string[];
}

/** What every metric kind shares: name, help, label names and its series. */
abstract class Metric<S> implements RenderableMetric {
  readonly series = new Map<string, { labels: string[]; state: S }>();
  /** New label combinations refused because of {@link MAX_SERIES_PER_METRIC}. */
  droppedSeries = 0;

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    readonly type: "counter" | "gauge" | "histogram",
  ) {
    assert(METRIC_NAME.test(name), `bad metric name ${name}`);
    for (const l of labelNames) assert(LABEL_NAME.test(l) && l !== "le", `bad label ${l}`);
  }

  protected abstract fresh(): S;

  /** The state of the series for `labels`, created on first use; null when over the limit. */
  protected state(labels: Labels | undefined): S | null {
    // On the path of every request: one string built, one map lookup.
    const names = this.labelNames;
    let key = "";
    for (let i = 0; i < names.length; i++) {
      if (i > 0) key += "\u0000";
      key += labels?.[names[i]!] ?? "";
    }
    let entry = this.series.get(key);
    if (entry === undefined) {
      assert(
        Object.keys(labels ?? {}).every((k) => names.includes(k)),
        `${this.name}: unexpected label in ${JSON.stringify(labels)}`,
      );
      if (this.series.size >= MAX_SERIES_PER_METRIC) {
        this.droppedSeries++;
        return null;
      }
      entry = { labels: names.map((n) => labels?.[n] ?? ""), state: this.fresh() };
      this.series.set(key, entry);
    }
    return entry.state;
  }

  /** Forgets every series (collected metrics whose label sets change, e.g. peers). */
  reset(): void {
    this.series.clear();
  }

  /** Renders the sample lines of one series. */
  protected abstract lines(labels: string[], state: S): string[];

  /** HELP, TYPE and every sample line. */
  render(): string[] {
    const out = [
      `# HELP ${this.name} ${escapeHelp(this.help)}`,
      `# TYPE ${this.name} ${this.type}`,
    ];
    for (const { labels, state } of this.series.values()) out.push(...this.lines(labels, state));
    return out;
  }

  protected labelText(values: string[], extra = ""): string {
    const parts = this.labelNames.map((n, i) => `${n}="${escapeLabel(values[i] ?? "")}"`);
    if (extra !== "") parts.push(extra);
    return parts.length === 0 ? "" : `{${parts.join(",")}}`;
  }
}

/** A value that only goes up. */
export class Counter extends Metric<{ value: number }> {
  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    assert(name.endsWith("_total"), `counter ${name} must end in _total`);
    super(name, help, labelNames, "counter");
    // Shown at 0 from the start, so rate() and absent() alerts work before the first event.
    if (labelNames.length === 0) this.state(undefined);
  }
  protected fresh() {
    return { value: 0 };
  }
  /** Adds `by` (≥ 0). */
  inc(labels?: Labels, by = 1): void {
    assert(by >= 0, "counters cannot go down");
    const s = this.state(labels);
    if (s) s.value += by;
  }
  /** Sets the total kept by someone else (e.g. transport stats) at scrape time. */
  setTotal(value: number, labels?: Labels): void {
    const s = this.state(labels);
    if (s) s.value = value;
  }
  /** The current value (tests, and rates computed in-process). */
  get(labels?: Labels): number {
    return this.state(labels)?.value ?? 0;
  }
  protected lines(labels: string[], s: { value: number }): string[] {
    return [`${this.name}${this.labelText(labels)} ${formatNumber(s.value)}`];
  }
}

/** A value that goes up and down. */
export class Gauge extends Metric<{ value: number }> {
  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    super(name, help, labelNames, "gauge");
  }
  protected fresh() {
    return { value: 0 };
  }
  /** Sets the value. */
  set(value: number, labels?: Labels): void {
    const s = this.state(labels);
    if (s) s.value = value;
  }
  /** The current value. */
  get(labels?: Labels): number {
    return this.state(labels)?.value ?? 0;
  }
  protected lines(labels: string[], s: { value: number }): string[] {
    return [`${this.name}${this.labelText(labels)} ${formatNumber(s.value)}`];
  }
}

interface HistogramState {
  /** Non-cumulative count per bucket; the last slot is +Inf. */
  counts: number[];
  sum: number;
  count: number;
}

/** Observations counted into fixed, increasing buckets (plus +Inf). */
export class Histogram extends Metric<HistogramState> {
  readonly buckets: readonly number[];

  constructor(
    name: string,
    help: string,
    buckets: readonly number[],
    labelNames: readonly string[] = [],
  ) {
    super(name, help, labelNames, "histogram");
    assert(buckets.length > 0, `${name}: no buckets`);
    for (let i = 1; i < buckets.length; i++) {
      assert((buckets[i - 1] as number) < (buckets[i] as number), `${name}: buckets must increase`);
    }
    assert(Number.isFinite(buckets[buckets.length - 1]), `${name}: +Inf is implicit`);
    this.buckets = buckets;
    if (labelNames.length === 0) this.state(undefined); // shown empty from the start
  }
  protected fresh(): HistogramState {
    return { counts: new Array(this.buckets.length + 1).fill(0), sum: 0, count: 0 };
  }
  /** Records one observation. */
  observe(value: number, labels?: Labels): void {
    const s = this.state(labels);
    if (!s) return;
    let i = 0;
    while (i < this.buckets.length && value > this.buckets[i]!) i++;
    s.counts[i] = (s.counts[i] ?? 0) + 1;
    s.sum += value;
    s.count++;
  }
  /** Observations so far for `labels`. */
  count(labels?: Labels): number {
    return this.state(labels)?.count ?? 0;
  }
  protected lines(labels: string[], s: HistogramState): string[] {
    const out: string[] = [];
    let cumulative = 0;
    for (let i = 0; i <= this.buckets.length; i++) {
      cumulative += s.counts[i] ?? 0;
      const le = i < this.buckets.length ? formatNumber(this.buckets[i] as number) : "+Inf";
      out.push(`${this.name}_bucket${this.labelText(labels, `le="${le}"`)} ${cumulative}`);
    }
    out.push(`${this.name}_sum${this.labelText(labels)} ${formatNumber(s.sum)}`);
    out.push(`${this.name}_count${this.labelText(labels)} ${s.count}`);
    return out;
  }
}

/** A set of metrics rendered together, with hooks that refresh gauges at scrape time. */
export class MetricsRegistry {
  readonly #metrics = new Map<string, RenderableMetric>();
  readonly #collectors: (() => void)[] = [];

  /** Adds a metric; names are unique. */
  register<M extends RenderableMetric>(metric: M): M {
    assert(!this.#metrics.has(metric.name), `metric ${metric.name} registered twice`);
    this.#metrics.set(metric.name, metric);
    return metric;
  }

  /** Runs `collect` before every render (to read cheap values such as the term). */
  onCollect(collect: () => void): void {
    assert(this.#collectors.length < MAX_COLLECTORS, "too many metric collectors");
    this.#collectors.push(collect);
  }

  /** The exposition text: collectors run first; a failing collector is skipped, not fatal. */
  render(): string {
    for (const collect of this.#collectors) {
      try {
        collect();
      } catch (e) {
        console.error("raftkv metrics: a collector failed:", e);
      }
    }
    const lines: string[] = [];
    let dropped = 0;
    for (const metric of this.#metrics.values()) {
      lines.push(...metric.render());
      dropped += metric.droppedSeries;
    }
    lines.push(
      "# HELP raftkv_metrics_series_dropped_total Label sets refused by the per-metric series limit.",
      "# TYPE raftkv_metrics_series_dropped_total counter",
      `raftkv_metrics_series_dropped_total ${dropped}`,
    );
    return lines.join("\n") + "\n";
  }
}

/** Content-Type of the text exposition format. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

function escapeHelp(text: string): string {
  return text.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
}

function escapeLabel(text: string): string {
  return text.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

/** Go-style float text: +Inf, -Inf, NaN, otherwise the shortest round-tripping form. */
export function formatNumber(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (n === Infinity) return "+Inf";
  if (n === -Infinity) return "-Inf";
  return String(n);
}

// ---- raftkv's metrics ---------------------------------------------------------------

/** Upper bounds for durations of fsyncs and HTTP requests, in seconds. */
export const LATENCY_BUCKETS_SECONDS: readonly number[] = [
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];

/** Upper bounds for snapshot durations, in seconds. */
export const SNAPSHOT_BUCKETS_SECONDS: readonly number[] = [
  0.01,
  0.05,
  0.1,
  0.5,
  1,
  5,
  10,
  30,
  60,
  300,
];

/** Upper bounds for the number of entries persisted in one batch (group commit). */
export const BATCH_BUCKETS_ENTRIES: readonly number[] = [
  1,
  2,
  4,
  8,
  16,
  32,
  64,
  128,
  256,
  512,
  1024,
  4096,
];

/** What a node reports at scrape time; each part is cheap to read. */
export interface NodeSample {
  /** The node's own status. */
  status: Pick<NodeStatus, "id" | "role" | "term" | "leader" | "commitIndex" | "appliedIndex">;
  /** Members and how far behind they are (known on the leader; null lag elsewhere). */
  members?: readonly { id: string; lag: number | null }[];
  /** The transport's counters. */
  transport?: TransportStats;
  /** Sends dropped per peer, when the transport keeps them per peer. */
  peerSendDropped?: Readonly<Record<string, number>>;
  /** Keys in the store. */
  keys?: number;
  /** The store's revision. */
  revision?: number;
  /** Leases in the store. */
  leases?: number;
  /** Keepalive log entries this node proposed (each carries a tick's keepalives). */
  keepaliveEntries?: number;
}

/** The metrics of one raftkv node; the node calls `observe*`, `/metrics` calls render. */
export class RaftkvMetrics {
  readonly registry = new MetricsRegistry();
  readonly term = this.#gauge("raftkv_term", "Current Raft term.");
  readonly leaderChanges = this.registry.register(
    new Counter("raftkv_leader_changes_total", "Times this node saw a new leader."),
  );
  readonly commitIndex = this.#gauge("raftkv_commit_index", "Highest log index known committed.");
  readonly appliedIndex = this.#gauge(
    "raftkv_applied_index",
    "Highest log index applied to the key-value store.",
  );
  readonly isLeader = this.#gauge("raftkv_is_leader", "1 when this node is the leader, else 0.");
  readonly proposals = this.registry.register(
    new Counter("raftkv_proposals_total", "Writes accepted by the Raft core for replication."),
  );
  readonly proposalsDropped = this.registry.register(
    new Counter(
      "raftkv_proposals_dropped_total",
      "Writes refused before replication (not leader, limits, shutting down).",
    ),
  );
  readonly appendBatch = this.registry.register(
    new Histogram(
      "raftkv_append_batch_entries",
      "Log entries persisted per storage write (one fsync each): the group-commit batch.",
      BATCH_BUCKETS_ENTRIES,
    ),
  );
  readonly fsync = this.registry.register(
    new Histogram(
      "raftkv_fsync_seconds",
      "Duration of durable storage writes (WAL append and hard state, fsync included).",
      LATENCY_BUCKETS_SECONDS,
    ),
  );
  readonly snapshots = this.registry.register(
    new Counter("raftkv_snapshots_total", "Snapshots taken by this node."),
  );
  readonly snapshotSeconds = this.registry.register(
    new Histogram(
      "raftkv_snapshot_seconds",
      "Duration of taking a snapshot and compacting the log.",
      SNAPSHOT_BUCKETS_SECONDS,
    ),
  );
  readonly peerLag = this.#gauge(
    "raftkv_peer_lag_entries",
    "Entries a member is behind the leader's last index (reported by the leader only).",
    ["peer"],
  );
  readonly peerSendDropped = this.registry.register(
    new Counter("raftkv_peer_send_dropped_total", "Messages to a peer dropped before sending.", [
      "peer",
    ]),
  );
  readonly transportMessages = this.registry.register(
    new Counter("raftkv_transport_messages_total", "Raft messages moved by the transport.", [
      "direction",
    ]),
  );
  readonly transportDropped = this.registry.register(
    new Counter("raftkv_transport_dropped_total", "Raft messages dropped, by reason.", ["reason"]),
  );
  readonly transportBytes = this.registry.register(
    new Counter("raftkv_transport_bytes_total", "Peer bytes, framing included.", ["direction"]),
  );
  readonly httpRequests = this.registry.register(
    new Counter("raftkv_http_requests_total", "HTTP requests answered, by route pattern.", [
      "route",
      "method",
      "status",
    ]),
  );
  readonly httpSeconds = this.registry.register(
    new Histogram(
      "raftkv_http_request_seconds",
      "Time to produce the HTTP response head, by route pattern.",
      LATENCY_BUCKETS_SECONDS,
      ["route", "method"],
    ),
  );
  readonly keys = this.#gauge("raftkv_keys", "Keys in the key-value store.");
  readonly revision = this.#gauge("raftkv_revision", "Revision of the key-value store.");
  readonly leases = this.#gauge("raftkv_leases", "Leases in the key-value store.");
  readonly keepaliveEntries = this.registry.register(
    new Counter(
      "raftkv_lease_keepalive_entries_total",
      "Keepalive log entries this node proposed, each carrying one tick's keepalives.",
    ),
  );
  #lastLeader: string | null = null;

  #gauge(name: string, help: string, labels: readonly string[] = []): Gauge {
    return this.registry.register(new Gauge(name, help, labels));
  }

  /** A write was handed to the core: accepted for replication, or refused. */
  observeProposal(accepted: boolean): void {
    (accepted ? this.proposals : this.proposalsDropped).inc();
  }

  /** One durable storage write of `entries` entries took `seconds`. */
  observePersist(entries: number, seconds: number): void {
    if (entries > 0) this.appendBatch.observe(entries);
    this.fsync.observe(seconds);
  }

  /** A snapshot (and the compaction behind it) took `seconds`. */
  observeSnapshot(seconds: number): void {
    this.snapshots.inc();
    this.snapshotSeconds.observe(seconds);
  }

  /** The leader as of the latest Ready; counts each change to a known leader. */
  observeLeader(leader: string | null): void {
    if (leader !== this.#lastLeader && leader !== null) this.leaderChanges.inc();
    this.#lastLeader = leader;
  }

  /** One HTTP request answered (called by the HTTP metrics middleware). */
  observeHttp(route: string, method: string, status: number, seconds: number): void {
    this.httpRequests.inc({ route, method, status: String(status) });
    this.httpSeconds.observe(seconds, { route, method });
  }

  /** Reads gauges from `sample()` at every scrape. */
  sampleWith(sample: () => NodeSample): void {
    this.registry.onCollect(() => this.#collect(sample()));
  }

  /** The exposition text. */
  render(): string {
    return this.registry.render();
  }

  #collect(sample: NodeSample): void {
    const { status } = sample;
    this.term.set(status.term);
    this.commitIndex.set(status.commitIndex);
    this.appliedIndex.set(status.appliedIndex);
    this.isLeader.set(status.role === "leader" ? 1 : 0);
    // Peers come and go: rebuild so removed members do not linger as stale series.
    this.peerLag.reset();
    for (const m of sample.members ?? []) {
      if (m.id !== status.id && m.lag !== null) this.peerLag.set(m.lag, { peer: m.id });
    }
    for (const [peer, dropped] of Object.entries(sample.peerSendDropped ?? {})) {
      this.peerSendDropped.setTotal(dropped, { peer });
    }
    if (sample.keys !== undefined) this.keys.set(sample.keys);
    if (sample.revision !== undefined) this.revision.set(sample.revision);
    if (sample.leases !== undefined) this.leases.set(sample.leases);
    if (sample.keepaliveEntries !== undefined) {
      this.keepaliveEntries.setTotal(sample.keepaliveEntries);
    }
    const t = sample.transport;
    if (t) {
      this.transportMessages.setTotal(t.sent, { direction: "sent" });
      this.transportMessages.setTotal(t.received, { direction: "received" });
      this.transportBytes.setTotal(t.bytesSent, { direction: "sent" });
      this.transportBytes.setTotal(t.bytesReceived, { direction: "received" });
      const other = t.dropped - t.droppedQueueFull - t.droppedUnknownPeer - t.droppedFiltered;
      this.transportDropped.setTotal(t.droppedQueueFull, { reason: "queue_full" });
      this.transportDropped.setTotal(t.droppedUnknownPeer, { reason: "unknown_peer" });
      this.transportDropped.setTotal(t.droppedFiltered, { reason: "filtered" });
      this.transportDropped.setTotal(Math.max(0, other), { reason: "lost_write" });
    }
  }
}
