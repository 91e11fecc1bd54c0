/**
 * Fake raftkv HTTP nodes for client tests: a small in-memory implementation of the
 * API on `Deno.serve` (127.0.0.1, port 0) with switchable faults, and a request log.
 *
 * @module
 */

import { type CachedAnswer, type FakeEvent, FakeStore } from "./fake_store.ts";
import { applyTxn, encodeValue, renderItem } from "./fake_txn.ts";

/** Faults of one node; counters count down as requests consume them. */
export interface Faults {
  /** Answer 503 (Retry-After: 0) to this many next requests. */
  unavailable: number;
  /** Answer 429 to this many next requests. */
  tooMany: number;
  /** Apply this many next writes, then answer 504. */
  outcomeUnknownAfterApply: number;
  /** Apply this many next requests, then drop the answer mid-body. */
  dropAfterApply: number;
  /** Wait this long before answering every request. */
  delayMs: number;
  /** Each new watch stream takes the next number and ends after that many events. */
  watchDropPlan: number[];
  /** When a planned drop ends a stream, first send `event: error` with this code. */
  watchErrorCode: string | null;
  /** Send an SSE heartbeat comment this often (null: never). */
  heartbeatMs: number | null;
}

/** What the log records of each request. */
export interface LoggedRequest {
  node: number;
  method: string;
  path: string;
  search: URLSearchParams;
  headers: Headers;
}

const NO_FAULTS: Faults = {
  unavailable: 0,
  tooMany: 0,
  outcomeUnknownAfterApply: 0,
  dropAfterApply: 0,
  delayMs: 0,
  watchDropPlan: [],
  watchErrorCode: null,
  heartbeatMs: null,
};

/** One fake node on its own port. */
export class FakeNode {
  faults: Faults = { ...NO_FAULTS, watchDropPlan: [] };
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  readonly #cluster: FakeCluster;
  readonly #closers = new Set<() => void>();
  readonly index: number;

  constructor(cluster: FakeCluster, index: number) {
    this.#cluster = cluster;
    this.index = index;
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (request) => this.#handle(request),
    );
  }

  /** Base URL of this node. */
  get url(): string {
    return `http://127.0.0.1:${this.#server.addr.port}`;
  }

  /** Stops the server and ends open streams and delays. */
  async close(): Promise<void> {
    for (const close of this.#closers) close();
    // Shutdown waits for open responses; a stuck stream must fail the test, not hang it.
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#server.shutdown(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("fake server shutdown took over 5 s")), 5_000);
      }),
    ]).finally(() => clearTimeout(timer));
  }

  async #handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    this.#cluster.log.push({
      node: this.index,
      method: request.method,
      path: url.pathname,
      search: url.searchParams,
      headers: request.headers,
    });
    const hasBody = request.method === "PUT" || request.method === "POST";
    const body = hasBody ? new Uint8Array(await request.arrayBuffer()) : null;
    if (this.faults.delayMs > 0) await this.#sleep(this.faults.delayMs);
    const token = this.#cluster.token;
    if (token !== null && request.headers.get("Authorization") !== `Bearer ${token}`) {
      return error(401, "unauthorized", "bad or missing token");
    }
    if (this.faults.unavailable > 0) {
      this.faults.unavailable--;
      return error(503, "unavailable", "no leader (fault)", { "Retry-After": "0" });
    }
    if (this.faults.tooMany > 0) {
      this.faults.tooMany--;
      return error(429, "too_many_requests", "queue full (fault)");
    }
    if (url.pathname === "/v1/watch") return this.#watch(url);
    const answer = this.#cluster.route(request, url, body);
    const isWrite = request.method !== "GET";
    if (isWrite && this.faults.outcomeUnknownAfterApply > 0) {
      this.faults.outcomeUnknownAfterApply--;
      return error(504, "outcome_unknown", "deadline passed (fault)");
    }
    if (this.faults.dropAfterApply > 0) {
      this.faults.dropAfterApply--;
      return droppedResponse();
    }
    return answer;
  }

  #watch(url: URL): Response {
    const store = this.#cluster.store;
    const prefix = url.searchParams.get("prefix") ?? "";
    const exact = url.searchParams.get("key");
    if (exact !== null && url.searchParams.has("prefix")) {
      return error(400, "bad_request", "key and prefix exclude each other");
    }
    const matches = (key: string) => exact === null ? key.startsWith(prefix) : key === exact;
    const from = Number(url.searchParams.get("fromRevision") ?? store.revision + 1);
    if (from < store.compactedBelow) {
      return error(410, "revision_compacted", `revision ${from} is compacted`);
    }
    const dropAfter = this.faults.watchDropPlan.shift() ?? null;
    const heartbeatMs = this.faults.heartbeatMs;
    const encoder = new TextEncoder();
    let cleanup = () => {};
    const stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        let sent = 0;
        const send = (event: FakeEvent) => {
          if (!matches(event.key) || event.revision < from) return;
          if (dropAfter !== null && sent >= dropAfter) return;
          controller.enqueue(encoder.encode(sseFrame(event)));
          sent++;
          if (dropAfter !== null && sent >= dropAfter) {
            const code = this.faults.watchErrorCode;
            if (code !== null) {
              const data = JSON.stringify(errorBody(code, `${code} (fault)`));
              controller.enqueue(encoder.encode(`event: error\ndata: ${data}\n\n`));
            }
            queueMicrotask(() => cleanup());
          }
        };
        const unsubscribe = store.subscribe(send);
        const heartbeat = heartbeatMs === null
          ? undefined
          : setInterval(() => controller.enqueue(encoder.encode(": heartbeat\n\n")), heartbeatMs);
        cleanup = () => {
          unsubscribe();
          clearInterval(heartbeat);
          this.#closers.delete(cleanup);
          try {
            controller.close();
          } catch { /* already closed or cancelled */ }
        };
        this.#closers.add(cleanup);
        for (const event of store.history) send(event);
      },
      cancel: () => cleanup(),
    });
    return new Response(stream, { headers: { "Content-Type": "text/event-stream" } });
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const close = () => {
        clearTimeout(timer);
        this.#closers.delete(close);
        resolve();
      };
      const timer = setTimeout(close, ms);
      this.#closers.add(close);
    });
  }
}

/** Several fake nodes over one store. */
export class FakeCluster {
  readonly store = new FakeStore();
  readonly log: LoggedRequest[] = [];
  readonly nodes: FakeNode[] = [];
  readonly token: string | null;

  /** Starts `size` nodes; with `token`, every request must carry it. */
  constructor(size: number, token: string | null = null) {
    this.token = token;
    for (let i = 0; i < size; i++) this.nodes.push(new FakeNode(this, i));
  }

  /** Base URLs of the nodes. */
  get urls(): string[] {
    return this.nodes.map((node) => node.url);
  }

  /** Logged requests matching `method` and a path prefix. */
  requests(method: string, pathPrefix = "/"): LoggedRequest[] {
    return this.log.filter((r) => r.method === method && r.path.startsWith(pathPrefix));
  }

  /** Stops every node. */
  async close(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.close()));
  }

  /** Answers one non-watch request from the store (idempotent writes replay). */
  route(request: Request, url: URL, body: Uint8Array | null): Response {
    const idempotencyKey = request.headers.get("Idempotency-Key");
    const cached = idempotencyKey === null ? undefined : this.store.answers.get(idempotencyKey);
    if (cached !== undefined) return answer(cached);
    const result = this.#apply(request, url, body);
    if (idempotencyKey !== null && request.method !== "GET") {
      this.store.answers.set(idempotencyKey, result);
    }
    return answer(result);
  }

  #apply(request: Request, url: URL, body: Uint8Array | null): CachedAnswer {
    const store = this.store;
    const revisionHeader = () => ({ "X-Raftkv-Revision": String(store.revision) });
    if (url.pathname === "/v1/status") {
      return json(200, {
        id: "n1",
        role: "leader",
        term: 3,
        leader: "n1",
        leaderHttpUrl: null,
        commitIndex: store.revision,
        appliedIndex: store.revision,
        ready: true,
      });
    }
    if (url.pathname === "/v1/cluster") {
      return json(200, {
        clusterId: "fake",
        self: "n1",
        leader: "n1",
        term: 3,
        commitIndex: store.revision,
        members: this.nodes.map((node, i) => ({
          id: `n${i + 1}`,
          role: "voter",
          peerAddr: null,
          httpUrl: node.url,
          matchIndex: store.revision,
          lag: 0,
          lastContactMs: 0,
          reachable: true,
        })),
      });
    }
    if (url.pathname === "/v1/kv") {
      const prefix = url.searchParams.get("prefix") ?? "";
      if (request.method === "DELETE") {
        const deleted = store.delete(store.keysUnder(prefix, null));
        return json(200, { deleted, revision: store.revision });
      }
      const limit = Number(url.searchParams.get("limit") ?? "100");
      const matching = store.keysUnder(prefix, url.searchParams.get("after"));
      const page = matching.slice(0, limit);
      return json(200, {
        items: page.map((key) => renderItem(key, store.keys.get(key)!)),
        more: matching.length > limit,
        next: matching.length > limit ? page.at(-1) : null,
        revision: store.revision,
      }, revisionHeader());
    }
    if (url.pathname === "/v1/txn" && request.method === "POST") {
      const answer = applyTxn(store, JSON.parse(new TextDecoder().decode(body ?? undefined)));
      return json(answer.status, answer.body);
    }
    if (url.pathname.startsWith("/v1/leases")) return this.#lease(request, url, body);
    if (!url.pathname.startsWith("/v1/kv/")) return json(404, errorBody("not_found", "no route"));
    const key = decodeURIComponent(url.pathname.slice("/v1/kv/".length));
    const ifMatch = request.headers.get("If-Match");
    const ifModRevision = ifMatch === null ? null : Number(ifMatch.replaceAll('"', ""));
    if (request.method === "PUT") {
      const createOnly = request.headers.get("If-None-Match") === "*";
      const lease = url.searchParams.get("lease");
      if (lease !== null && !store.leases.has(lease)) {
        return json(404, errorBody("lease_not_found", `lease ${lease} not found`));
      }
      const put = store.put(key, body ?? new Uint8Array(), ifModRevision, createOnly, lease);
      if (!put.ok) {
        const headers: Record<string, string> = put.current === null
          ? {}
          : { ETag: `"${put.current.modRevision}"` };
        return json(412, errorBody("precondition_failed", "compare failed"), headers);
      }
      const { createRevision, modRevision, version } = put.record;
      return json(200, { key, createRevision, modRevision, version }, {
        ETag: `"${modRevision}"`,
      });
    }
    const record = store.keys.get(key);
    if (record === undefined) {
      return json(404, errorBody("not_found", `key ${key} does not exist`), revisionHeader());
    }
    if (request.method === "DELETE") {
      if (ifModRevision !== null && record.modRevision !== ifModRevision) {
        return json(412, errorBody("precondition_failed", "compare failed"), {
          ETag: `"${record.modRevision}"`,
        });
      }
      store.delete([key]);
      return json(200, { key, deleted: true, revision: store.revision }, revisionHeader());
    }
    return {
      status: 200,
      body: record.value.slice(),
      headers: {
        ...revisionHeader(),
        "Content-Type": "application/octet-stream",
        ETag: `"${record.modRevision}"`,
        "X-Raftkv-Create-Revision": String(record.createRevision),
        "X-Raftkv-Version": String(record.version),
        ...(record.lease === null ? {} : { "X-Raftkv-Lease": record.lease }),
      },
    };
  }

  #lease(request: Request, url: URL, body: Uint8Array | null): CachedAnswer {
    const store = this.store;
    const [, , , id, action] = url.pathname.split("/"); // "", v1, leases, id, keepalive
    if (id === undefined && request.method === "POST") {
      const { ttlSeconds } = JSON.parse(new TextDecoder().decode(body ?? undefined));
      return json(201, { id: store.grantLease(ttlSeconds), ttlSeconds });
    }
    const lease = id === undefined ? undefined : store.leases.get(id);
    if (id === undefined || lease === undefined) {
      return json(404, errorBody("lease_not_found", `lease ${id} not found`));
    }
    const remainingMs = lease.ttlSeconds * 1000;
    if (action === "keepalive" && request.method === "POST") {
      lease.keepalives++;
      return json(200, { id, ttlSeconds: lease.ttlSeconds, remainingMs });
    }
    if (request.method === "DELETE") {
      const deleted = store.revokeLease(id);
      return json(200, { id, revoked: true, deleted, revision: store.revision });
    }
    return json(200, { id, ttlSeconds: lease.ttlSeconds, remainingMs, keys: [...lease.keys] });
  }
}

function answer(cached: CachedAnswer): Response {
  return new Response(cached.body, {
    status: cached.status,
    headers: { "Content-Type": "application/json", "X-Raftkv-Leader": "n1", ...cached.headers },
  });
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): CachedAnswer {
  return { status, body: JSON.stringify(body), headers };
}

function errorBody(code: string, message: string) {
  return { error: { code, message } };
}

function error(
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): Response {
  return answer(json(status, errorBody(code, message), headers));
}

/** A 200 whose body breaks off: the client sees a network error while reading it. */
function droppedResponse(): Response {
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode('{"partial":'));
      controller.error(new Error("connection dropped (fault)"));
    },
  });
  return new Response(stream, { status: 200, headers: { "Content-Type": "application/json" } });
}

function sseFrame(event: FakeEvent): string {
  const data = JSON.stringify({
    type: event.type,
    key: event.key,
    ...(event.value === null ? { value: null } : encodeValue(event.value)),
    revision: event.revision,
    createRevision: event.createRevision,
    version: event.version,
    lease: event.lease,
  });
  return `event: ${event.type}\nid: ${event.revision}\ndata: ${data}\n\n`;
}

/** A URL on which nothing listens: connections are refused. */
export function deadEndpoint(): string {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return `http://127.0.0.1:${port}`;
}
