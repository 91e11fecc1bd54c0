import assert from "node:assert/strict";
import type { AdminApi } from "../../src/http/admin_api.ts";
import { createApp } from "../../src/http/app.ts";
import { STATUS_BY_CODE } from "../../src/http/errors.ts";
import { FakeNode } from "./fake_node.ts";
import { setup, TEST_OPTIONS } from "./helpers.ts";

Deno.test("GET /v1/status answers the node's status as JSON", async () => {
  const { node, app } = setup();
  const res = await app.request("/v1/status");
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), node.status());
});

Deno.test("GET /health answers 200 whatever the node's state", async () => {
  const { node, app } = setup();
  node.follow(null, null);
  node.statusValue.ready = false;
  const res = await app.request("/health");
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { ok: true });
});

Deno.test("GET /ready follows status().ready: 200, else 503 with Retry-After", async () => {
  const { node, app } = setup();
  assert.equal((await app.request("/ready")).status, 200);
  node.statusValue.ready = false;
  const res = await app.request("/ready");
  assert.equal(res.status, 503);
  assert.equal(res.headers.get("Retry-After"), "1");
  assert.equal((await res.json()).error.code, "unavailable");
});

Deno.test("a removed member is never ready and passes no write on to the leader", async () => {
  const { node, app } = setup();
  node.follow("n2", "http://n2.test");
  node.statusValue.ready = false;
  node.statusValue.removed = true;
  const requests: [string, string][] = [["GET", "/ready"], ["PUT", "/v1/kv/a"], [
    "DELETE",
    "/v1/kv/a",
  ]];
  for (const [method, path] of requests) {
    const res = await app.request(path, { method, ...(method === "PUT" ? { body: "v" } : {}) });
    assert.equal(res.status, 503, `${method} ${path}`);
    const { error } = await res.json();
    assert.equal(error.code, "unavailable");
    assert.match(error.message, /node n1 was removed from the cluster/);
  }
});

Deno.test("every answer names the leader, empty when none is known", async () => {
  const { node, app } = setup();
  for (const path of ["/health", "/v1/kv/missing", "/nope"]) {
    assert.equal((await app.request(path)).headers.get("X-Raftkv-Leader"), "n1", path);
  }
  node.follow(null, null);
  assert.equal((await app.request("/health")).headers.get("X-Raftkv-Leader"), "");
});

Deno.test("unknown routes answer 404 JSON", async () => {
  const { app } = setup();
  for (const path of ["/", "/v2/kv/a", "/v1/kvx", "/v1/watch/extra"]) {
    const res = await app.request(path);
    assert.equal(res.status, 404, path);
    assert.equal((await res.json()).error.code, "not_found");
  }
});

Deno.test("a known path with the wrong method answers 405 JSON with Allow", async () => {
  const { node, app } = setup();
  const cases: [string, string, string][] = [
    ["POST", "/v1/kv/a", "GET, HEAD, PUT, DELETE"],
    ["PATCH", "/v1/kv/a", "GET, HEAD, PUT, DELETE"],
    ["PUT", "/v1/kv", "GET, HEAD, DELETE"],
    ["POST", "/v1/watch", "GET, HEAD"],
    ["DELETE", "/v1/status", "GET, HEAD"],
    ["POST", "/health", "GET, HEAD"],
    ["PUT", "/ready", "GET, HEAD"],
    ["OPTIONS", "/v1/kv/a", "GET, HEAD, PUT, DELETE"],
  ];
  for (const [method, path, allow] of cases) {
    const res = await app.request(path, { method });
    assert.equal(res.status, 405, `${method} ${path}`);
    assert.equal(res.headers.get("Allow"), allow);
    assert.equal(res.headers.get("X-Raftkv-Leader"), "n1");
    assert.match((await res.json()).error.message, new RegExp(`method ${method} not allowed`));
  }
  assert.equal(node.writes.length, 0);
});

Deno.test("every error code maps to one distinct HTTP status (lease_not_found refines 404)", () => {
  const { lease_not_found: leaseNotFound, ...rest } = STATUS_BY_CODE;
  const statuses = Object.values(rest);
  assert.equal(new Set(statuses).size, statuses.length);
  assert.equal(leaseNotFound, STATUS_BY_CODE.not_found);
  assert.equal(STATUS_BY_CODE.revision_compacted, 410);
  assert.equal(STATUS_BY_CODE.outcome_unknown, 504);
});

Deno.test("CORS preflight from an allowed origin answers 204 with the allowed headers", async () => {
  const { app } = setup({ corsOrigins: ["https://app.example"] });
  const res = await app.request("/v1/kv/a", {
    method: "OPTIONS",
    headers: {
      Origin: "https://app.example",
      "Access-Control-Request-Method": "PUT",
      "Access-Control-Request-Headers": "If-Match, Idempotency-Key",
    },
  });
  assert.equal(res.status, 204);
  assert.equal(res.headers.get("Access-Control-Allow-Origin"), "https://app.example");
  assert.match(res.headers.get("Access-Control-Allow-Methods") ?? "", /PUT/);
  assert.match(res.headers.get("Access-Control-Allow-Headers") ?? "", /If-Match/);
  assert.match(res.headers.get("Access-Control-Allow-Headers") ?? "", /Idempotency-Key/);
});

Deno.test("CORS does not allow an origin that is not listed", async () => {
  const { app } = setup({ corsOrigins: ["https://app.example"] });
  const res = await app.request("/v1/kv/a", {
    method: "OPTIONS",
    headers: { Origin: "https://evil.example", "Access-Control-Request-Method": "PUT" },
  });
  assert.equal(res.headers.get("Access-Control-Allow-Origin"), null);
});

Deno.test("CORS answers expose ETag and raftkv headers to scripts", async () => {
  const { app } = setup({ corsOrigins: ["*"] });
  const res = await app.request("/v1/kv/missing", { headers: { Origin: "https://any.example" } });
  assert.equal(res.headers.get("Access-Control-Allow-Origin"), "*");
  const exposed = res.headers.get("Access-Control-Expose-Headers") ?? "";
  for (const name of ["ETag", "X-Raftkv-Revision", "X-Raftkv-Leader", "Retry-After"]) {
    assert.ok(exposed.includes(name), `${name} in ${exposed}`);
  }
});

Deno.test("an admin body that is not JSON says so, apart from JSON of the wrong shape", async () => {
  // Bodies are refused before the admin API is called, so it needs no methods.
  const app = createApp(new FakeNode(), TEST_OPTIONS, {} as AdminApi);
  const post = (body: string) => app.request("/v1/cluster/leader", { method: "POST", body });
  const broken = await post("{bad json");
  assert.equal(broken.status, 400);
  assert.match((await broken.json()).error.message, /^the body is not valid JSON \(/);
  const array = await post("[1]");
  assert.equal(array.status, 400);
  assert.equal((await array.json()).error.message, "the body must be a JSON object");
});
