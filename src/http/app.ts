/**
 * The raftkv HTTP API as a Hono app, composed from small routers. It talks to the node
 * only through {@link NodeApi}, so tests drive it with `app.request()` and a fake.
 *
 * @example
 * ```ts
 * const app = createApp(node, { ...DEFAULT_HTTP_OPTIONS, corsOrigins: ["*"] });
 * Deno.serve({ hostname: "127.0.0.1", port: 8080 }, app.fetch);
 * ```
 *
 * @module
 */

import { Hono } from "hono";
import type { MiddlewareHandler } from "hono";
import { cors } from "hono/cors";
import { notFound, onError } from "./errors.ts";
import type { NodeApi } from "./node_api.ts";
import type { HttpOptions } from "./options.ts";
import { kvRoutes, REVISION_HEADER } from "./routes/kv.ts";
import { statusRoutes } from "./routes/status.ts";
import { watchRoutes } from "./routes/watch.ts";
import { leaseRoutes } from "./routes/leases.ts";
import { txnRoutes } from "./routes/txn.ts";
import { clusterRoutes } from "./routes/cluster.ts";
import { authEnabled, authMiddleware } from "./auth.ts";
import { directLane } from "./direct.ts";
import { LEADER_HEADER, LEADER_URL_HEADER, leaderHeaders } from "./leader_headers.ts";
import type { AdminApi } from "./admin_api.ts";
import { type HttpMetrics, metricsRoutes, observeRequest } from "./routes/metrics.ts";
import { dashboardRoutes } from "./routes/dashboard.ts";

export type { NodeApi, NodeStatus } from "./node_api.ts";
export { DEFAULT_HTTP_OPTIONS, type HttpOptions } from "./options.ts";

export { LEADER_HEADER, LEADER_URL_HEADER } from "./leader_headers.ts";

/** Builds the HTTP API of `node`; with `admin`, `/v1/cluster` is served too. */
export function createApp(node: NodeApi, options: HttpOptions, admin?: AdminApi): Hono {
  const app = new Hono();
  // First, so requests answered by auth or CORS alone are counted too.
  app.use("*", edge(node, options.metrics));
  if (options.corsOrigins.length > 0) app.use("*", corsFor(options.corsOrigins));
  // Not even a pass-through when off: every middleware layer costs every request.
  if (options.auth && authEnabled(options.auth)) app.use("*", authMiddleware(options.auth));
  app.route("/v1", kvRoutes(node, options));
  app.route("/v1", watchRoutes(node, options));
  app.route("/v1", leaseRoutes(node, options));
  app.route("/v1", txnRoutes(node, options));
  if (admin) app.route("/v1", clusterRoutes(node, admin, options));
  app.route("/", statusRoutes(node));
  if (options.metrics) {
    app.route("/", metricsRoutes(options.metrics));
    app.route("/", dashboardRoutes()); // the page charts /metrics, so it comes with it
  }
  app.notFound(notFound);
  app.onError(onError);
  const direct = directLane(node, options);
  if (direct !== null) {
    const routed = app.fetch;
    app.fetch = (request, ...rest) => direct(request) ?? routed(request, ...rest);
  }
  return app;
}

/**
 * What every answer gets: the leader headers, and (with metrics) the request counted
 * and timed. One layer for both, and the headers go in before the response is built:
 * each middleware layer, and above all changing a built response's headers, showed up
 * as a large share of a read's cost.
 */
function edge(node: NodeApi, metrics: HttpMetrics | undefined): MiddlewareHandler {
  return async (c, next) => {
    const startedMs = performance.now();
    const before = leaderHeaders(node);
    c.header(LEADER_HEADER, before.leader);
    c.header(LEADER_URL_HEADER, before.url);
    try {
      await next();
    } finally {
      // A response built outside the context (a stream, a relayed answer) lacks the
      // prepared headers, and the leader may have changed while the request ran.
      const after = leaderHeaders(node);
      if (
        c.finalized && (after.leader !== before.leader || after.url !== before.url ||
          !c.res.headers.has(LEADER_HEADER))
      ) {
        c.res.headers.set(LEADER_HEADER, after.leader);
        c.res.headers.set(LEADER_URL_HEADER, after.url);
      }
      if (metrics) observeRequest(metrics, c, startedMs);
    }
  };
}

function corsFor(origins: string[]): MiddlewareHandler {
  return cors({
    origin: origins.includes("*") ? "*" : origins,
    allowMethods: ["GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS"],
    allowHeaders: [
      "Content-Type",
      "If-Match",
      "If-None-Match",
      "Idempotency-Key",
      "Authorization",
      "Last-Event-ID",
    ],
    exposeHeaders: [
      "ETag",
      REVISION_HEADER,
      LEADER_HEADER,
      LEADER_URL_HEADER,
      "Retry-After",
      "X-Raftkv-Create-Revision",
      "X-Raftkv-Version",
      "X-Raftkv-Expires-At",
      "X-Raftkv-Lease",
    ],
    maxAge: 600,
  });
}
