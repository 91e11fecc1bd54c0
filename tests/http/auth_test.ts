import assert from "node:assert/strict";
import { createApp } from "../../src/http/app.ts";
import { type AuthConfig, parseTokenFile, requiredScope } from "../../src/http/auth.ts";
import type { AdminApi } from "../../src/http/admin_api.ts";
import { FakeNode } from "./fake_node.ts";
import { TEST_OPTIONS } from "./helpers.ts";

const RW = "rw-token-0123456789abcdef";
const RO = "ro-token-0123456789abcdef";
const ADMIN = "admin-token-0123456789abcdef";

/** An admin stub: every call succeeds. */
const admin: AdminApi = {
  cluster: () => ({
    clusterId: "c",
    self: "n1",
    leader: "n1",
    term: 1,
    commitIndex: 0,
    members: [],
  }),
  addMember: (r) =>
    Promise.resolve({
      id: r.id,
      role: "learner",
      peerAddr: r.peerAddr,
      httpUrl: r.httpUrl,
      matchIndex: 0,
      lag: 0,
      lastContactMs: null,
      reachable: null,
    }),
  promote: () => Promise.resolve(),
  removeMember: () => Promise.resolve(),
  transferLeader: () => Promise.resolve(),
  snapshot: () => Promise.resolve({ index: 1, term: 1 }),
  backup: () =>
    Promise.resolve({
      index: 1,
      chunks: (async function* () {
        yield new Uint8Array([1]);
      })(),
    }),
};

function app(auth: AuthConfig) {
  const node = new FakeNode();
  return createApp(node, { ...TEST_OPTIONS, auth }, admin);
}

const FULL: AuthConfig = {
  tokens: [{ token: RW, scope: "readwrite" }, { token: RO, scope: "read" }],
  adminToken: ADMIN,
};

/** Compares and reads only, in both branches: a read token may send it. */
const READ_TXN = JSON.stringify({
  compare: [{ key: "a", target: "version", op: ">", value: 0 }],
  success: [{ get: { key: "a" } }],
  failure: [{ list: { prefix: "a", limit: 5 } }],
});
/** One put in the failure branch: it writes, so it needs a read-write token. */
const WRITE_TXN = JSON.stringify({
  compare: [{ key: "a", target: "version", op: ">", value: 0 }],
  success: [{ get: { key: "a" } }],
  failure: [{ put: { key: "a", value: "1" } }],
});

/** One request per route class. */
const ROUTES: {
  method: string;
  path: string;
  body?: string;
  scope: "read" | "readwrite" | "admin";
}[] = [
  { method: "GET", path: "/v1/kv/a?consistency=stale", scope: "read" },
  { method: "GET", path: "/v1/kv?prefix=a", scope: "read" },
  { method: "GET", path: "/v1/status", scope: "read" },
  { method: "GET", path: "/v1/cluster?local=true", scope: "read" },
  { method: "PUT", path: "/v1/kv/a", body: "x", scope: "readwrite" },
  { method: "DELETE", path: "/v1/kv/a", scope: "readwrite" },
  { method: "DELETE", path: "/v1/kv?prefix=a", scope: "readwrite" },
  {
    method: "POST",
    path: "/v1/cluster/members",
    body: JSON.stringify({
      id: "n9",
      peerAddr: "127.0.0.1:7009",
      httpUrl: "http://127.0.0.1:8009",
    }),
    scope: "admin",
  },
  { method: "DELETE", path: "/v1/cluster/members/n9", scope: "admin" },
  { method: "POST", path: "/v1/cluster/leader", body: '{"to":"n2"}', scope: "admin" },
  { method: "POST", path: "/v1/cluster/snapshot", scope: "admin" },
  { method: "POST", path: "/v1/txn", body: READ_TXN, scope: "read" },
  { method: "POST", path: "/v1/txn", body: WRITE_TXN, scope: "readwrite" },
];

async function call(
  a: ReturnType<typeof app>,
  route: (typeof ROUTES)[number],
  token?: string,
): Promise<{ status: number; code?: string }> {
  const res = await a.request(route.path, {
    method: route.method,
    ...(route.body === undefined ? {} : { body: route.body }),
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  });
  const text = await res.text();
  return { status: res.status, code: res.status >= 400 ? JSON.parse(text).error?.code : undefined };
}

Deno.test("every route without a token answers 401 with a JSON error", async () => {
  const a = app(FULL);
  for (const route of ROUTES) {
    const r = await call(a, route);
    assert.equal(r.status, 401, `${route.method} ${route.path}`);
    assert.equal(r.code, "unauthorized");
  }
});

Deno.test("every route with a wrong token answers 401", async () => {
  const a = app(FULL);
  for (const route of ROUTES) {
    const r = await call(a, route, "not-a-real-token-at-all");
    assert.equal(r.status, 401, `${route.method} ${route.path}`);
  }
});

Deno.test("a read-only token reads but may not write (403)", async () => {
  const a = app(FULL);
  for (const route of ROUTES) {
    const r = await call(a, route, RO);
    if (route.scope === "read") assert.notEqual(r.status, 401, `${route.method} ${route.path}`);
    else {
      assert.equal(r.status, 403, `${route.method} ${route.path}`);
      assert.equal(r.code, "forbidden");
    }
  }
});

Deno.test("a read token may send a read-only transaction; one that writes needs readwrite", async () => {
  const node = new FakeNode();
  const a = createApp(node, { ...TEST_OPTIONS, auth: FULL }, admin);
  const send = (body: string, token: string) =>
    a.request("/v1/txn", {
      method: "POST",
      body,
      headers: { authorization: `Bearer ${token}` },
    });
  const read = await send(READ_TXN, RO);
  assert.equal(read.status, 200);
  assert.deepEqual((await read.json()).results, [{ list: { items: [], more: false } }]);
  assert.equal(node.readTxns.length, 1, "served on the read path");
  const write = await send(WRITE_TXN, RO);
  assert.equal(write.status, 403);
  assert.deepEqual((await write.json()).error, {
    code: "forbidden",
    message: "this token allows read access; a transaction that writes needs readwrite",
  });
  // A write in a branch that would not run still makes it a writing transaction.
  const deleting = JSON.stringify({ success: [{ deletePrefix: { prefix: "a" } }] });
  assert.equal((await send(deleting, RO)).status, 403);
  assert.equal(node.writes.length, 0, "nothing proposed for a read token");
  // A bad body is a 400 whatever the token.
  assert.equal((await send('{"success":[{"put":{}}]}', RO)).status, 400);
  for (const token of [RW, ADMIN]) {
    const ok = await send(WRITE_TXN, token);
    assert.equal(ok.status, 200, await ok.text());
  }
  assert.equal(node.writes.length, 2);
  // Without client tokens (only an admin token) transactions need no token at all.
  const open = createApp(new FakeNode(), {
    ...TEST_OPTIONS,
    auth: { tokens: [], adminToken: ADMIN },
  });
  assert.equal((await open.request("/v1/txn", { method: "POST", body: WRITE_TXN })).status, 200);
});

Deno.test("a client token may not change membership when an admin token exists (403)", async () => {
  const a = app(FULL);
  for (const route of ROUTES.filter((r) => r.scope === "admin")) {
    assert.equal((await call(a, route, RW)).status, 403, `${route.method} ${route.path}`);
    const ok = await call(a, route, ADMIN);
    assert.ok(ok.status < 400, `${route.method} ${route.path} with the admin token: ${ok.status}`);
  }
  for (const route of ROUTES.filter((r) => r.scope !== "admin")) {
    assert.ok(
      ![401, 403].includes((await call(a, route, RW)).status),
      `${route.method} ${route.path}`,
    );
  }
});

Deno.test("probes stay open and no token configured means no authentication", async () => {
  const a = app(FULL);
  assert.equal((await a.request("/health")).status, 200);
  const open = app({ tokens: [], adminToken: null });
  for (const route of ROUTES) assert.ok(![401, 403].includes((await call(open, route)).status));
});

Deno.test("only membership changes need a token when just an admin token is set", async () => {
  const a = app({ tokens: [], adminToken: ADMIN });
  for (const route of ROUTES) {
    const r = await call(a, route);
    assert.equal(
      r.status === 401,
      route.scope === "admin",
      `${route.method} ${route.path}: ${r.status}`,
    );
  }
});

Deno.test("token files name scopes and reject short or unknown entries", () => {
  const config = parseTokenFile(`# comment\nreadwrite ${RW}\nread ${RO}\nadmin ${ADMIN}\n`, "t");
  assert.deepEqual(config.tokens.map((t) => t.scope), ["readwrite", "read"]);
  assert.equal(config.adminToken, ADMIN);
  assert.throws(() => parseTokenFile("readwrite short\n", "t"), /t:1/);
  assert.throws(() => parseTokenFile(`owner ${RW}\n`, "t"), /unknown scope/);
  assert.equal(requiredScope("GET", "/v1/cluster"), "read");
  assert.equal(requiredScope("POST", "/v1/cluster/leader"), "admin");
  // The body decides: the txn route asks for readwrite when the transaction writes.
  assert.equal(requiredScope("POST", "/v1/txn"), "read");
  assert.equal(requiredScope("PUT", "/v1/txn"), "readwrite");
});
