import assert from "node:assert/strict";
import { HandshakeKey, type Hello, newNonce } from "../../src/transport/handshake.ts";

async function hello(key: HandshakeKey, serverNonce: Uint8Array): Promise<Hello> {
  const fields = { clusterId: "c1", from: "n1", to: "n2", channel: "raft" as const };
  return { version: 1, ...fields, nonce: newNonce(), mac: await key.helloMac(serverNonce, fields) };
}

Deno.test("a hello MAC verifies only for its own nonce, secret and fields", async () => {
  const key = await HandshakeKey.create("s3cret");
  const n1 = newNonce();
  const h = await hello(key, n1);
  assert.ok(await key.verifyHello(n1, h));
  assert.equal(await key.verifyHello(newNonce(), h), false, "replay under a new nonce fails");
  assert.equal(await (await HandshakeKey.create("other")).verifyHello(n1, h), false);
  assert.equal(await key.verifyHello(n1, { ...h, to: "n3" }), false, "fields are bound");
  assert.equal(await key.verifyHello(n1, { ...h, channel: "snapshot" }), false);
  assert.equal(await key.verifyHello(n1, { ...h, mac: new Uint8Array(0) }), false);
});

Deno.test("the welcome MAC proves the server knows the secret and binds the client nonce", async () => {
  const key = await HandshakeKey.create("s3cret");
  const n = newNonce();
  const h = await hello(key, n);
  const mac = await key.welcomeMac(n, h);
  assert.ok(await key.verifyWelcome(n, h, mac));
  assert.equal(await key.verifyWelcome(n, { ...h, nonce: newNonce() }, mac), false);
  assert.equal(await key.verifyWelcome(n, h, new Uint8Array(0)), false);
});

Deno.test("without a secret MACs are empty and not checked", async () => {
  const key = await HandshakeKey.create(undefined);
  assert.equal(key.enabled, false);
  const h = await hello(key, newNonce());
  assert.equal(h.mac.length, 0);
  assert.ok(await key.verifyHello(newNonce(), h));
});
