import assert from "node:assert/strict";
import { Hono } from "hono";
import { createApp } from "../../src/http/app.ts";
import { authMiddleware } from "../../src/http/auth.ts";
import type { HttpOptions } from "../../src/http/options.ts";
import {
  httpMetricsMiddleware,
  METRICS_CONTENT_TYPE,
  metricsRoutes,
  UNMATCHED_ROUTE,
} from "../../src/http/routes/metrics.ts";
import { dashboardRoutes } from "../../src/http/routes/dashboard.ts";
import { RaftkvMetrics } from "../../src/node/metrics.ts";
import { parseExposition, valueOf } from "../dashboard/prom_exposition.ts";
import { FakeNode } from "./fake_node.ts";
import { TEST_OPTIONS } from "./helpers.ts";

/**
 * The HTTP app with metrics. Uses createApp's own `metrics` option once the integrator
 * has wired it (see /work/notes/ops_wiring.md); until then composes the same pieces
 * around createApp, in the same order.
 */
function appWithMetrics(
  node: FakeNode,
  metrics: RaftkvMetrics,
  overrides: Partial<HttpOptions> = {},
): Hono {
  const options = { ...TEST_OPTIONS, ...overrides, metrics };
  const wired = createApp(node, options);
  if (wiredForMetrics(wired)) return wired;
  const app = new Hono();
  app.use("*", httpMetricsMiddleware(metrics));
  if (overrides.auth) app.use("*", authMiddleware(overrides.auth));
  app.route("/", metricsRoutes(metrics));
  app.route("/", dashboardRoutes());
  app.route("/", createApp(node, { ...TEST_OPTIONS, ...overrides }));
  return app;
}

function wiredForMetrics(app: Hono): boolean {
  return app.routes.some((r) => r.path === "/metrics");
}

function setup(overrides: Partial<HttpOptions> = {}) {
  const node = new FakeNode();
  const metrics = new RaftkvMetrics();
  metrics.sampleWith(() => ({ status: node.status(), keys: node.keys.size }));
  return { node, metrics, app: appWithMetrics(node, metrics, overrides) };
}

async function scrape(app: Hono, headers: Record<string, string> = {}) {
  const res = await app.request("/metrics", { headers });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), METRICS_CONTENT_TYPE);
  return parseExposition(await res.text());
}

Deno.test("GET /metrics serves valid exposition text with the node's gauges", async () => {
  const { app, node } = setup();
  node.statusValue = { ...node.statusValue, term: 9 };
  const families = await scrape(app);
  assert.equal(valueOf(families, "raftkv_term"), 9);
  assert.equal(valueOf(families, "raftkv_is_leader"), 1);
  const post = await app.request("/metrics", { method: "POST" });
  assert.equal(post.status, 405);
});

Deno.test("requests are counted by route pattern, method and status, not raw URL", async () => {
  const { app } = setup();
  for (const key of ["a", "b", "c/d"]) {
    const res = await app.request(`/v1/kv/${key}`, { method: "PUT", body: "v" });
    assert.equal(res.status, 200);
  }
  assert.equal((await app.request("/v1/kv/a")).status, 200);
  assert.equal((await app.request("/v1/kv/missing")).status, 404);
  assert.equal((await app.request("/v1/kv?prefix=")).status, 200);
  const families = await scrape(app);
  const count = (labels: Record<string, string>) =>
    valueOf(families, "raftkv_http_requests_total", labels);
  assert.equal(count({ route: "/v1/kv/*", method: "PUT", status: "200" }), 3);
  assert.equal(count({ route: "/v1/kv/*", method: "GET", status: "200" }), 1);
  assert.equal(count({ route: "/v1/kv/*", method: "GET", status: "404" }), 1);
  assert.equal(count({ route: "/v1/kv", method: "GET", status: "200" }), 1);
  const routes = new Set(
    families.get("raftkv_http_requests_total")?.samples.map((s) => s.labels["route"]),
  );
  for (const route of routes) assert(!route?.includes("/a"), `raw URL leaked: ${route}`);
  assert.equal(
    valueOf(families, "raftkv_http_request_seconds_count", { route: "/v1/kv/*", method: "PUT" }),
    3,
  );
});

Deno.test("unknown paths share one 'unmatched' route label", async () => {
  const { app } = setup();
  for (const path of ["/nope", "/x/y/z", "/v2/kv/a"]) {
    assert.equal((await app.request(path)).status, 404);
  }
  const families = await scrape(app);
  assert.equal(
    valueOf(families, "raftkv_http_requests_total", { route: UNMATCHED_ROUTE, status: "404" }),
    3,
  );
});

Deno.test("answers from auth and from a failing node are counted with their status", async () => {
  const token = "read-write-token-0123456789";
  const { app, node } = setup({
    auth: { tokens: [{ token, scope: "readwrite" }], adminToken: null },
  });
  const denied = await app.request("/v1/kv/a", { method: "PUT", body: "v" });
  assert.equal(denied.status, 401);
  node.writeFailure = new Error("disk on fire");
  const originalError = console.error;
  console.error = () => {}; // the app logs the unexpected error; expected here
  try {
    const failed = await app.request("/v1/kv/a", {
      method: "PUT",
      body: "v",
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(failed.status, 500);
  } finally {
    console.error = originalError;
  }
  const families = await scrape(app, { authorization: `Bearer ${token}` });
  const count = (status: string) =>
    valueOf(families, "raftkv_http_requests_total", { route: "/v1/kv/*", method: "PUT", status });
  assert.equal(count("401"), 1);
  assert.equal(count("500"), 1);
  // /metrics itself needs a read token like any other data.
  assert.equal((await app.request("/metrics")).status, 401);
});

Deno.test("unusual methods are folded into one label", async () => {
  const { app } = setup();
  await app.request("/v1/kv/a", { method: "PROPFIND" });
  const families = await scrape(app);
  assert.equal(valueOf(families, "raftkv_http_requests_total", { method: "OTHER" }), 1);
  assert.equal(valueOf(families, "raftkv_http_requests_total", { method: "PROPFIND" }), 0);
});
