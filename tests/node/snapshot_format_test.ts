import assert from "node:assert/strict";
import {
  decodeNodeSnapshot,
  encodeNodeSnapshot,
  type SnapshotHeader,
} from "../../src/node/snapshot_format.ts";

const HEADER: SnapshotHeader = {
  version: 1,
  members: [["n1", { peerAddr: "127.0.0.1:7001", httpUrl: "http://127.0.0.1:8001" }]],
};
const CHUNKS = [new Uint8Array([0x82, 1, 2]), new Uint8Array(5000).fill(0x83)];

async function* from(pieces: Uint8Array[]): AsyncIterable<Uint8Array> {
  for (const p of pieces) yield p;
}

async function encoded(): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const p of encodeNodeSnapshot(HEADER, from(CHUNKS))) parts.push(p);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Decodes `bytes` delivered in awkward 7-byte pieces and drains the KV chunks. */
async function decodeAll(
  bytes: Uint8Array,
): Promise<{ header: SnapshotHeader; chunks: number[][] }> {
  const pieces: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += 7) pieces.push(bytes.slice(i, i + 7));
  const { header, kvChunks } = await decodeNodeSnapshot(from(pieces));
  const chunks: number[][] = [];
  for await (const c of kvChunks) chunks.push([...c]);
  return { header, chunks };
}

Deno.test("a snapshot round-trips with its digest, chunk for chunk", async () => {
  const { header, chunks } = await decodeAll(await encoded());
  assert.deepEqual(header, HEADER);
  assert.deepEqual(chunks, CHUNKS.map((c) => [...c]));
});

Deno.test("one flipped byte anywhere before the digest is refused", async () => {
  const bytes = await encoded();
  for (const at of [10, 60, bytes.length - 100, bytes.length - 1]) {
    const damaged = bytes.slice();
    damaged[at]! ^= 0x01;
    await assert.rejects(decodeAll(damaged), /checksum|snapshot|not a raftkv/, `byte ${at}`);
  }
});

Deno.test("a snapshot written before digests existed still reads; data after a digest does not", async () => {
  const bytes = await encoded();
  // Without its last piece (4-byte length + 46-byte digest), it is the old format.
  const old = bytes.slice(0, bytes.length - 50);
  const { chunks } = await decodeAll(old);
  assert.equal(chunks.length, 2);
  const extra = new Uint8Array(bytes.length + 5);
  extra.set(bytes);
  extra.set([0, 0, 0, 1, 0x80], bytes.length);
  await assert.rejects(decodeAll(extra), /data after its checksum/);
});
