import assert from "node:assert/strict";
import { createApp } from "../../src/http/app.ts";
import type { AuthConfig } from "../../src/http/auth.ts";
import { FakeNode } from "./fake_node.ts";
import { TEST_OPTIONS } from "./helpers.ts";

const RW = "rw-token-0123456789abcdef";
const RO = "ro-token-0123456789abcdef";
const AUTH: AuthConfig = {
  tokens: [{ token: RW, scope: "readwrite" }, { token: RO, scope: "read" }],
  adminToken: null,
};

function setup() {
  const node = new FakeNode();
  const app = createApp(node, { ...TEST_OPTIONS, auth: AUTH }, undefined);
  const txn = (token: string | null, body: unknown) =>
    app.request("/v1/txn", {
      method: "POST",
      body: JSON.stringify(body),
      headers: token === null ? {} : { Authorization: `Bearer ${token}` },
    });
  return { node, txn };
}

const READ_ONLY = {
  compare: [{ key: "a", target: "version", op: "=", value: 0 }],
  success: [{ get: { key: "a" } }, { list: { prefix: "a" } }],
  failure: [{ get: { key: "b" } }],
};
const WRITING = {
  compare: [{ key: "a", target: "version", op: "=", value: 0 }],
  success: [{ get: { key: "a" } }],
  failure: [{ put: { key: "a", value: "1" } }],
};

Deno.test("a read token runs a read-only transaction (it is a read, served by the read index)", async () => {
  // An audit's read-only client got 403 "readwrite is needed" for a transaction of gets.
  const { node, txn } = setup();
  const res = await txn(RO, READ_ONLY);
  assert.equal(res.status, 200, await res.clone().text());
  assert.equal((await res.json()).succeeded, true);
  assert.equal(node.writes.length, 0);
});

Deno.test("a transaction that may write still needs a readwrite token", async () => {
  const { node, txn } = setup();
  const refused = await txn(RO, WRITING);
  assert.equal(refused.status, 403);
  const { error } = await refused.json();
  assert.equal(error.code, "forbidden");
  assert.equal(
    error.message,
    "this token allows read access; a transaction that writes needs readwrite",
  );
  assert.equal(node.writes.length, 0, "nothing written for a read token");
  const missing = await txn(null, READ_ONLY);
  assert.equal(missing.status, 401);
  const bogus = await txn("not-a-token-0123456789", WRITING);
  assert.equal(bogus.status, 401);
  const allowed = await txn(RW, WRITING);
  assert.equal(allowed.status, 200, await allowed.clone().text());
  assert.equal(node.writes.length, 1);
});
