/**
 * The node:-API halves of the Bun runtime (files and sockets) run under Deno too, so
 * their semantics are checked here against what the seam promises: positional I/O,
 * exclusive create, not-found errors; pull-style reads, end of stream, close failing a
 * pending read, and TLS verified against a CA.
 */

import assert from "node:assert/strict";
import { nodeFileSystem } from "../../src/runtime/node_files.ts";
import { nodeConnect, nodeListen } from "../../src/runtime/node_sockets.ts";
import { makeCertificates } from "../integration/certs.ts";

Deno.test("node files: positional writes and reads, createNew, sync counters, not-found", async () => {
  const syncs = { fdatasync: 0, fsync: 0 };
  const fs = nodeFileSystem(syncs);
  const dir = await Deno.makeTempDir({ prefix: "raftkv-nodefs-" });
  try {
    const path = `${dir}/a.bin`;
    const f = await fs.open(path, { write: true, createNew: true });
    f.writeAtSync(new Uint8Array([1, 2, 3]), 4);
    await f.writeAt(new Uint8Array([9]), 0);
    await f.syncData();
    assert.equal(await f.size(), 7);
    f.truncateSync(5);
    f.close();
    await assert.rejects(() => fs.open(path, { write: true, createNew: true }));
    assert.deepEqual(await fs.readFile(path), new Uint8Array([9, 0, 0, 0, 1]));
    const r = fs.openSync(path, { read: true });
    const buf = new Uint8Array(10);
    assert.equal(r.readAtSync(buf, 3), 2);
    assert.deepEqual(buf.subarray(0, 2), new Uint8Array([0, 1]));
    assert.equal(await r.read(buf), 5);
    assert.equal(await r.read(buf), null);
    r.close();
    const d = await fs.open(dir, { read: true });
    await d.sync();
    d.close();
    assert.deepEqual(syncs, { fdatasync: 1, fsync: 1 });
    assert.deepEqual((await fs.readDir(dir)).map((e) => [e.name, e.isFile]), [["a.bin", true]]);
    const missing = await fs.readFile(`${dir}/nope`).catch((e) => e);
    assert.ok(fs.isNotFound(missing));
    assert.ok(!fs.isNotFound(new Error("other")));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("node sockets: bytes both ways, end of stream, close fails a pending read", async () => {
  const listener = await nodeListen({ hostname: "127.0.0.1", port: 0 });
  try {
    const accepted = listener.accept();
    const client = await nodeConnect({ hostname: "127.0.0.1", port: listener.addr.port });
    const server = await accepted;
    const big = new Uint8Array(3 * 1024 * 1024).map((_, i) => i % 251);
    const sending = client.write(big);
    const got = new Uint8Array(big.length);
    let at = 0;
    while (at < got.length) {
      const n = await server.read(got.subarray(at, Math.min(got.length, at + 65_536)));
      assert.ok(n !== null && n > 0);
      at += n;
    }
    assert.equal(await sending, big.length);
    assert.deepEqual(got, big);
    const pending = client.read(new Uint8Array(10));
    client.close();
    await assert.rejects(pending);
    assert.equal(await server.read(new Uint8Array(10)), null, "the peer sees end of stream");
    server.close();
  } finally {
    listener.close();
  }
  await assert.rejects(() => listener.accept());
});

Deno.test("node sockets: TLS verified against the cluster CA; a connect abort rejects", async () => {
  const dir = await Deno.makeTempDir({ prefix: "raftkv-nodetls-" });
  await makeCertificates(dir);
  const certs = {
    cert: await Deno.readTextFile(`${dir}/node.pem`),
    key: await Deno.readTextFile(`${dir}/node.key`),
    caCert: await Deno.readTextFile(`${dir}/ca.pem`),
  };
  const listener = await nodeListen({
    hostname: "127.0.0.1",
    port: 0,
    tls: { cert: certs.cert, key: certs.key },
  });
  try {
    const accepted = listener.accept();
    const client = await nodeConnect({
      hostname: "127.0.0.1",
      port: listener.addr.port,
      caCerts: [certs.caCert],
    });
    const server = await accepted;
    await client.write(new TextEncoder().encode("hello"));
    const buf = new Uint8Array(5);
    assert.equal(await server.read(buf), 5);
    assert.equal(new TextDecoder().decode(buf), "hello");
    client.close();
    server.close();
    await assert.rejects(() =>
      nodeConnect({ hostname: "127.0.0.1", port: listener.addr.port, caCerts: [] })
    );
    const aborted = AbortSignal.abort();
    await assert.rejects(() =>
      nodeConnect({ hostname: "127.0.0.1", port: listener.addr.port, signal: aborted })
    );
  } finally {
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});
