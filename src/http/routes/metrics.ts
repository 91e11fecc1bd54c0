/**
 * `GET /metrics` in the Prometheus text format, and the middleware that counts every
 * HTTP request by route pattern, method and status. Mounted at the root.
 *
 * Routes are labelled with the pattern that matched (`/v1/kv/*`), never the raw URL,
 * so the number of series stays bounded by the route table whatever clients send.
 *
 * @module
 */

import { type Context, Hono, type MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import { methodNotAllowed } from "../errors.ts";

/** Content-Type of the Prometheus text exposition format 0.0.4. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Route label of requests that matched no route (404s of unknown paths). */
export const UNMATCHED_ROUTE = "unmatched";

/** What the HTTP layer needs of a metrics set (`RaftkvMetrics` in `src/node/metrics.ts`). */
export interface HttpMetrics {
  /** Records one answered request. */
  observeHttp(route: string, method: string, status: number, seconds: number): void;
  /** The exposition text. */
  render(): string;
}

/** Methods kept as labels; anything else is counted as "OTHER" to bound cardinality. */
const KNOWN_METHODS = new Set(["GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS", "PATCH"]);

/** The metrics router; mount with `app.route("/", metricsRoutes(metrics))`. */
export function metricsRoutes(metrics: HttpMetrics): Hono {
  return new Hono()
    .get("/metrics", (c) => c.body(metrics.render(), 200, { "Content-Type": METRICS_CONTENT_TYPE }))
    .all("/metrics", methodNotAllowed(["GET", "HEAD"]));
}

/**
 * Middleware recording every request; register it first (`app.use("*", ...)`) so it
 * also sees requests that auth or CORS answer on their own.
 */
export function httpMetricsMiddleware(metrics: HttpMetrics): MiddlewareHandler {
  return async (c, next) => {
    const startedMs = performance.now();
    try {
      await next();
    } finally {
      observeRequest(metrics, c, startedMs);
    }
  };
}

/** Records one answered request that started at `startedMs` (performance.now()). */
export function observeRequest(metrics: HttpMetrics, c: Context, startedMs: number): void {
  const seconds = (performance.now() - startedMs) / 1000;
  const method = KNOWN_METHODS.has(c.req.method) ? c.req.method : "OTHER";
  // Without a response yet (an error escaped every handler) Hono answers 500.
  metrics.observeHttp(routeLabel(c), method, c.finalized ? c.res.status : 500, seconds);
}

/**
 * The route pattern that answered: the handler that ran last, or, when a middleware
 * such as auth answered, the most specific pattern the path matched.
 */
export function routeLabel(c: Context): string {
  const routes = matchedRoutes(c);
  const answered = routes.at(c.req.routeIndex)?.path;
  if (answered !== undefined && !isCatchAll(answered)) return answered;
  for (let i = routes.length - 1; i >= 0; i--) {
    const path = routes[i]?.path;
    if (path !== undefined && !isCatchAll(path)) return path;
  }
  return UNMATCHED_ROUTE;
}

function isCatchAll(path: string): boolean {
  return path === "*" || path === "/*";
}
