import assert from "node:assert/strict";
import { RaftkvError } from "../../src/errors.ts";
import { pathOf } from "../../src/http/routes/kv.ts";
import { put, setup } from "./helpers.ts";

const text = new TextEncoder();

Deno.test("PUT stores the body and answers revisions with an ETag", async () => {
  const { node, app } = setup();
  const res = await put(app, "greeting", "hello");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("ETag"), '"1"');
  assert.equal(res.headers.get("X-Raftkv-Leader"), "n1");
  assert.deepEqual(await res.json(), {
    key: "greeting",
    createRevision: 1,
    modRevision: 1,
    version: 1,
  });
  assert.deepEqual(node.keys.get("greeting")?.value, text.encode("hello"));
  assert.deepEqual(node.writes[0]?.command, {
    op: "put",
    key: "greeting",
    value: text.encode("hello"),
    ttlMs: null,
    ifModRevision: null,
    createOnly: false,
  });
});

Deno.test("GET answers the raw value with ETag, revision and key headers", async () => {
  const { app } = setup();
  await put(app, "a", "one");
  await put(app, "b", "two");
  await put(app, "a", "three");
  const res = await app.request("/v1/kv/a");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("Content-Type"), "application/octet-stream");
  assert.equal(res.headers.get("ETag"), '"3"');
  assert.equal(res.headers.get("X-Raftkv-Revision"), "3");
  assert.equal(res.headers.get("X-Raftkv-Create-Revision"), "1");
  assert.equal(res.headers.get("X-Raftkv-Version"), "2");
  assert.equal(res.headers.get("X-Raftkv-Leader"), "n1");
  assert.equal(await res.text(), "three");
});

Deno.test("binary values round-trip byte for byte", async () => {
  const { app } = setup();
  const bytes = new Uint8Array([0, 255, 254, 1, 128]);
  assert.equal((await put(app, "bin", bytes)).status, 200);
  const res = await app.request("/v1/kv/bin");
  assert.deepEqual(new Uint8Array(await res.arrayBuffer()), bytes);
});

Deno.test("HEAD answers the GET headers without a body", async () => {
  const { app } = setup();
  await put(app, "a", "one");
  const res = await app.request("/v1/kv/a", { method: "HEAD" });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("ETag"), '"1"');
  assert.equal(await res.text(), "");
});

Deno.test("keys may hold slashes and percent-encoded UTF-8", async () => {
  const { node, app } = setup();
  assert.equal((await put(app, "dir/sub/leaf", "x")).status, 200);
  assert.equal((await put(app, "caf%C3%A9%20au%2Flait", "y")).status, 200);
  assert.ok(node.keys.has("dir/sub/leaf"));
  assert.ok(node.keys.has("café au/lait"));
  assert.equal(await (await app.request("/v1/kv/caf%C3%A9%20au%2Flait")).text(), "y");
});

Deno.test("malformed keys answer 400 and oversize keys 413", async () => {
  const { node, app } = setup();
  for (const path of ["%FF", "%C3", "bad%", "%E0%80%AF", ""]) {
    const res = await put(app, path, "x");
    assert.equal(res.status, 400, `key ${JSON.stringify(path)}`);
    assert.equal((await res.json()).error.code, "bad_request");
  }
  const long = await put(app, "k".repeat(65), "x");
  assert.equal(long.status, 413);
  assert.equal((await long.json()).error.code, "too_large");
  // 64 bytes is exactly the limit; multi-byte characters count as bytes, not chars.
  assert.equal((await put(app, "k".repeat(64), "x")).status, 200);
  assert.equal((await put(app, "%C3%A9".repeat(33), "x")).status, 413);
  assert.equal((await app.request(`/v1/kv/${"k".repeat(65)}`)).status, 413);
  assert.equal(node.writes.length, 1);
});

// Deno.serve drains a refused body that was never read (or was cancelled) to its end after
// the answer; src/http/body.ts therefore peeks one chunk and releases the body instead.
Deno.test("an oversize value is refused from Content-Length after peeking at most one chunk", async () => {
  const { node, app } = setup();
  let pulls = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulls++;
      controller.enqueue(new Uint8Array(2048));
      controller.close();
    },
  }, { highWaterMark: 0 }); // pull only when someone reads
  const res = await app.request("/v1/kv/big", {
    method: "PUT",
    body,
    headers: { "Content-Length": "2048" },
  });
  assert.equal(res.status, 413);
  assert.equal((await res.json()).error.code, "too_large");
  assert.ok(pulls <= 1, `pulled ${pulls} chunks of a refused body`);
  assert.equal(node.writes.length, 0);
});

Deno.test("a chunked body is cut off with 413 once it passes the limit", async () => {
  const { node, app } = setup();
  let sent = 0;
  let cancelled = false;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      sent += 300;
      controller.enqueue(new Uint8Array(300));
      if (sent > 100_000) controller.close();
    },
    cancel() {
      cancelled = true;
    },
  });
  const res = await app.request("/v1/kv/big", { method: "PUT", body });
  assert.equal(res.status, 413);
  // Released, not cancelled: a cancelled body is drained to its end by Deno.serve.
  assert.ok(!cancelled, "the reader releases the oversized body without cancelling it");
  assert.ok(sent < 100_000, `read ${sent} bytes before refusing`);
  assert.equal(node.writes.length, 0);
  // At the limit exactly, it is accepted.
  assert.equal((await put(app, "edge", new Uint8Array(1024))).status, 200);
});

Deno.test("ttl is passed in milliseconds; malformed ttl answers 400", async () => {
  const { node, app } = setup();
  assert.equal((await put(app, "t?ttl=30", "x")).status, 200);
  const command = node.writes[0]?.command;
  assert.ok(command?.op === "put");
  assert.equal(command.ttlMs, 30_000);
  // Whole numbers out of range, however large or negative, name the range; the rest
  // are not integers at all.
  const cases: [string, RegExp][] = [
    ["0", /^ttl must be between 1 and 315360000 seconds$/],
    ["-1", /^ttl must be between 1 and 315360000 seconds$/],
    ["999999999999", /^ttl must be between 1 and 315360000 seconds$/],
    ["99999999999999999999", /^ttl must be between 1 and 315360000 seconds$/],
    ["abc", /^ttl must be an integer$/],
    ["1.5", /^ttl must be an integer$/],
    ["", /^ttl must be an integer$/],
    ["1e3", /^ttl must be an integer$/],
  ];
  for (const [ttl, message] of cases) {
    const res = await put(app, `t?ttl=${ttl}`, "x");
    assert.equal(res.status, 400, `ttl=${ttl}`);
    assert.match((await res.json()).error.message, message, `ttl=${ttl}`);
  }
  // Leading zeros still spell the integer.
  assert.equal((await put(app, "t?ttl=007", "x")).status, 200);
  const last = node.writes.at(-1)?.command;
  assert.ok(last?.op === "put");
  assert.equal(last.ttlMs, 7_000);
});

Deno.test("limit and fromRevision name their range for negative and huge values", async () => {
  const { app } = setup();
  const cases: [string, RegExp][] = [
    ["/v1/kv?limit=-5", /^limit must be between 1 and 1000$/],
    ["/v1/kv?limit=0", /^limit must be between 1 and 1000$/],
    ["/v1/kv?limit=x", /^limit must be an integer$/],
    ["/v1/watch?fromRevision=-3", /^fromRevision must be at least 0$/],
    ["/v1/watch?fromRevision=99999999999999999999", /^fromRevision is too big/],
  ];
  for (const [path, message] of cases) {
    const res = await app.request(path);
    assert.equal(res.status, 400, path);
    assert.match((await res.json()).error.message, message, path);
  }
});

Deno.test("If-Match turns a put into a compare-and-set on modRevision", async () => {
  const { node, app } = setup();
  await put(app, "k", "v1");
  const ok = await put(app, "k", "v2", { "If-Match": '"1"' });
  assert.equal(ok.status, 200);
  assert.equal(ok.headers.get("ETag"), '"2"');
  const lost = await put(app, "k", "v3", { "If-Match": '"1"' });
  assert.equal(lost.status, 412);
  assert.equal(lost.headers.get("ETag"), '"2"');
  const body = await lost.json();
  assert.equal(body.error.code, "precondition_failed");
  assert.match(body.error.message, /current modRevision is 2/);
  assert.equal(new TextDecoder().decode(node.keys.get("k")?.value), "v2");
});

Deno.test('If-Match "0" creates only when the key is absent', async () => {
  const { app } = setup();
  assert.equal((await put(app, "k", "v", { "If-Match": '"0"' })).status, 200);
  const lost = await put(app, "k", "v", { "If-Match": '"0"' });
  assert.equal(lost.status, 412);
});

Deno.test("If-None-Match: * creates only; it answers 412 on an existing key", async () => {
  const { node, app } = setup();
  assert.equal((await put(app, "k", "v", { "If-None-Match": "*" })).status, 200);
  const again = await put(app, "k", "w", { "If-None-Match": "*" });
  assert.equal(again.status, 412);
  assert.equal((await again.json()).error.code, "precondition_failed");
  const command = node.writes[0]?.command;
  assert.ok(command?.op === "put" && command.createOnly);
});

Deno.test("malformed preconditions answer 400", async () => {
  const { node, app } = setup();
  const cases: Record<string, string>[] = [
    { "If-Match": "1" },
    { "If-Match": "*" },
    { "If-Match": 'W/"1"' },
    { "If-Match": '"1", "2"' },
    { "If-None-Match": '"1"' },
    { "If-Match": '"1"', "If-None-Match": "*" },
  ];
  for (const headers of cases) {
    assert.equal((await put(app, "k", "v", headers)).status, 400, JSON.stringify(headers));
  }
  assert.equal(node.writes.length, 0);
});

Deno.test("Idempotency-Key reaches the node; longer than 256 characters answers 400", async () => {
  const { node, app } = setup();
  await put(app, "k", "v", { "Idempotency-Key": "abc-123" });
  assert.equal(node.writes[0]?.idempotencyKey, "abc-123");
  assert.equal((await put(app, "k", "v", { "Idempotency-Key": "x".repeat(256) })).status, 200);
  assert.equal((await put(app, "k", "v", { "Idempotency-Key": "x".repeat(257) })).status, 400);
});

Deno.test("GET of a missing key answers 404 JSON with the read revision", async () => {
  const { app } = setup();
  await put(app, "other", "x");
  const res = await app.request("/v1/kv/missing");
  assert.equal(res.status, 404);
  assert.equal(res.headers.get("X-Raftkv-Revision"), "1");
  assert.equal(res.headers.get("Content-Type"), "application/json");
  assert.equal((await res.json()).error.code, "not_found");
});

Deno.test("consistency defaults to linearizable, passes lease and stale, refuses others", async () => {
  const { node, app } = setup();
  await app.request("/v1/kv/a");
  await app.request("/v1/kv/a?consistency=lease");
  await app.request("/v1/kv/a?consistency=stale");
  assert.deepEqual(node.reads.map((r) => r.consistency), ["linearizable", "lease", "stale"]);
  const bad = await app.request("/v1/kv/a?consistency=eventual");
  assert.equal(bad.status, 400);
  assert.match((await bad.json()).error.message, /consistency/);
  assert.equal((await app.request("/v1/kv?consistency=strong")).status, 400);
});

Deno.test("DELETE removes a key, 404 when it did not exist, 412 when If-Match loses", async () => {
  const { node, app } = setup();
  await put(app, "k", "v");
  await put(app, "k", "w");
  const lost = await app.request("/v1/kv/k", { method: "DELETE", headers: { "If-Match": '"1"' } });
  assert.equal(lost.status, 412);
  assert.match((await lost.json()).error.message, /current modRevision is 2/);
  const ok = await app.request("/v1/kv/k", { method: "DELETE", headers: { "If-Match": '"2"' } });
  assert.equal(ok.status, 200);
  assert.deepEqual(await ok.json(), { key: "k", deleted: true, revision: 3 });
  assert.equal(node.keys.has("k"), false);
  const missing = await app.request("/v1/kv/k", { method: "DELETE" });
  assert.equal(missing.status, 404);
  assert.equal((await missing.json()).error.code, "not_found");
});

Deno.test("a node refusal with not_found maps to 404 naming the state", async () => {
  const { node, app } = setup();
  node.apply = () => ({
    ok: false,
    code: "not_found",
    message: "no such key",
    current: null,
  });
  const res = await app.request("/v1/kv/k", { method: "DELETE", headers: { "If-Match": '"4"' } });
  assert.equal(res.status, 404);
  assert.equal((await res.json()).error.message, "no such key (the key does not exist)");
});

Deno.test("DELETE /v1/kv?prefix= deletes a prefix; it needs a prefix or all=true", async () => {
  const { node, app } = setup();
  for (const key of ["app/a", "app/b", "apple", "zoo"]) await put(app, key, "v");
  const res = await app.request("/v1/kv?prefix=app/", { method: "DELETE" });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { deleted: 2, revision: 5 });
  assert.deepEqual([...node.keys.keys()].sort(), ["apple", "zoo"]);
  assert.equal((await app.request("/v1/kv", { method: "DELETE" })).status, 400);
  assert.equal((await app.request("/v1/kv?prefix=", { method: "DELETE" })).status, 400);
  assert.equal((await app.request("/v1/kv?all=yes", { method: "DELETE" })).status, 400);
  const all = await app.request("/v1/kv?all=true", { method: "DELETE" });
  assert.deepEqual(await all.json(), { deleted: 2, revision: 6 });
  assert.equal(node.keys.size, 0);
});

Deno.test("list answers keys in order with UTF-8 or base64 values and expiry", async () => {
  const { node, app } = setup();
  await put(app, "p/b", "bee");
  await put(app, "p/a?ttl=60", "ay");
  await put(app, "p/c", new Uint8Array([0xff, 0x00, 0xc3]));
  await put(app, "q", "other");
  const res = await app.request("/v1/kv?prefix=p/");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("X-Raftkv-Revision"), "4");
  assert.deepEqual(await res.json(), {
    items: [
      {
        key: "p/a",
        value: "ay",
        createRevision: 2,
        modRevision: 2,
        version: 1,
        expiresAt: new Date(node.nowMs + 60_000).toISOString(),
        lease: null,
      },
      {
        key: "p/b",
        value: "bee",
        createRevision: 1,
        modRevision: 1,
        version: 1,
        expiresAt: null,
        lease: null,
      },
      {
        key: "p/c",
        value: "/wDD",
        encoding: "base64",
        createRevision: 3,
        modRevision: 3,
        version: 1,
        expiresAt: null,
        lease: null,
      },
    ],
    more: false,
    next: null,
    revision: 4,
  });
});

Deno.test("list pages with limit and after; limit defaults to 100 and is capped at 1000", async () => {
  const { node, app } = setup();
  for (const key of ["a", "b", "c", "d", "e"]) await put(app, key, key);
  const first = await (await app.request("/v1/kv?limit=2")).json();
  assert.deepEqual(first.items.map((i: { key: string }) => i.key), ["a", "b"]);
  assert.equal(first.more, true);
  assert.equal(first.next, "b");
  const second = await (await app.request(`/v1/kv?limit=2&after=${first.next}`)).json();
  assert.deepEqual(second.items.map((i: { key: string }) => i.key), ["c", "d"]);
  const last = await (await app.request("/v1/kv?limit=2&after=d")).json();
  assert.deepEqual([last.items.length, last.more, last.next], [1, false, null]);
  await app.request("/v1/kv");
  assert.equal(node.reads.at(-1)?.limit, 100);
  assert.equal((await app.request("/v1/kv?limit=1000")).status, 200);
  for (const limit of ["0", "1001", "ten", "-1", "2.5"]) {
    const res = await app.request(`/v1/kv?limit=${limit}`);
    assert.equal(res.status, 400, `limit=${limit}`);
  }
});

Deno.test("no leader or no quorum answers 503 with Retry-After", async () => {
  const { node, app } = setup();
  node.writeFailure = new RaftkvError("unavailable", "no quorum");
  const res = await put(app, "k", "v");
  assert.equal(res.status, 503);
  assert.equal(res.headers.get("Retry-After"), "1");
  assert.deepEqual(await res.json(), { error: { code: "unavailable", message: "no quorum" } });
  node.writeFailure = new RaftkvError("unavailable", "electing", 3);
  assert.equal((await put(app, "k", "v")).headers.get("Retry-After"), "3");
});

Deno.test("a write whose fate is unknown answers 504", async () => {
  const { node, app } = setup();
  node.writeFailure = new RaftkvError("outcome_unknown", "deadline passed");
  const res = await put(app, "k", "v");
  assert.equal(res.status, 504);
  assert.equal((await res.json()).error.code, "outcome_unknown");
});

Deno.test("a write past requestTimeoutMs answers 504 outcome_unknown", async () => {
  const { node, app } = setup({ requestTimeoutMs: 20 });
  node.writeFailure = "hang";
  const res = await put(app, "k", "v");
  assert.equal(res.status, 504);
  assert.match((await res.json()).error.message, /may or may not have been applied/);
});

Deno.test("a read past requestTimeoutMs answers 503, safe to retry", async () => {
  const { node, app } = setup({ requestTimeoutMs: 20 });
  node.readFailure = "hang";
  const res = await app.request("/v1/kv/k");
  assert.equal(res.status, 503);
  assert.equal(res.headers.get("Retry-After"), "1");
});

Deno.test("an unexpected exception answers 500 internal without leaking details", async () => {
  const { node, app } = setup();
  node.readFailure = new Error("secret stack detail");
  const logged: unknown[][] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => logged.push(args);
  try {
    const res = await app.request("/v1/kv/k");
    assert.equal(res.status, 500);
    const body = await res.text();
    assert.deepEqual(JSON.parse(body), { error: { code: "internal", message: "internal error" } });
    assert.ok(!body.includes("secret"));
    assert.equal(res.headers.get("X-Raftkv-Leader"), "n1");
  } finally {
    console.error = original;
  }
  assert.equal(logged.length, 1);
});

Deno.test("other node error codes map through the one table", async () => {
  const { node, app } = setup();
  const expected: [RaftkvError, number][] = [
    [new RaftkvError("conflict", "membership change"), 409],
    [new RaftkvError("too_many_requests", "queue full"), 429],
    [new RaftkvError("forbidden", "no"), 403],
  ];
  for (const [error, status] of expected) {
    node.writeFailure = error;
    const res = await put(app, "k", "v");
    assert.equal(res.status, status);
    assert.equal((await res.json()).error.code, error.code);
  }
});

Deno.test("the key path is read as URL parsing would read it, dot segments included", () => {
  for (
    const url of [
      "http://h/v1/kv/k1",
      "http://h/v1/kv/a.b/c?consistency=stale",
      "http://h/v1/kv/a/../b",
      "http://h/v1/kv/a/%2e%2E/b",
      "http://h/v1/kv/./x#frag",
      "http://h/v1/kv/with%20space/%C3%BC",
      "http://h:8080/v1/kv/q%3Fx=1%23h?x=1",
      "http://h/v1/kv/a\\b",
      "http://h/v1/kv/ü€",
      "http://h/v1/kv/{x}|`^",
      "http://h",
    ]
  ) {
    assert.equal(pathOf(url), new URL(url).pathname, url);
  }
});
