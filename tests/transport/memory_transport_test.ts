import assert from "node:assert/strict";
import { type Message, MessageType, type SnapshotMessage } from "../../src/raft/messages.ts";
import { MemoryNetwork } from "../../src/transport/memory_transport.ts";
import { sampleMessages, snapshotMessage, waitFor } from "./helpers.ts";

function heartbeat(from: string, to: string, context: number): Message {
  return { type: MessageType.Heartbeat, from, to, term: 1, commit: 0, context };
}

Deno.test("memory transport delivers every message type asynchronously, in order, as copies", async () => {
  const net = new MemoryNetwork();
  const a = net.transport("n1");
  const b = net.transport("n2");
  await a.start();
  await b.start();
  const got: Message[] = [];
  b.onMessage = (m) => got.push(m);
  const sent = sampleMessages("n1", "n2");
  for (const m of sent) a.send(m);
  assert.equal(got.length, 0, "delivery never happens inside send()");
  await waitFor(() => got.length === sent.length, "all messages");
  assert.deepEqual(got, sent);
  assert.notEqual(got[0], sent[0], "receivers get their own objects");
  await a.close();
  await b.close();
});

Deno.test("memory transport streams snapshots to onSnapshot and resolves after it stores them", async () => {
  const net = new MemoryNetwork();
  const a = net.transport("n1");
  const b = net.transport("n2");
  await a.start();
  await b.start();
  let stored: { m: SnapshotMessage; bytes: number[] } | null = null;
  b.onSnapshot = async (m, chunks) => {
    const bytes: number[] = [];
    for await (const c of chunks) bytes.push(...c);
    stored = { m, bytes };
  };
  async function* chunks() {
    yield new Uint8Array([1, 2]);
    yield new Uint8Array([3]);
  }
  await a.sendSnapshot(snapshotMessage("n1", "n2"), chunks());
  assert.deepEqual(stored, { m: snapshotMessage("n1", "n2"), bytes: [1, 2, 3] });
  b.onSnapshot = () => Promise.reject(new Error("disk full"));
  await assert.rejects(a.sendSnapshot(snapshotMessage("n1", "n2"), chunks()), /disk full/);
});

Deno.test("memory network filters partition nodes in both directions and count drops", async () => {
  const net = new MemoryNetwork();
  const [a, b, c] = ["n1", "n2", "n3"].map((id) => net.transport(id));
  for (const t of [a!, b!, c!]) await t.start();
  const got: string[] = [];
  for (const t of [a!, b!, c!]) t.onMessage = (m) => got.push(`${m.from}->${m.to}`);
  // Isolate n3 from everyone.
  net.filter = (from, to) => from !== "n3" && to !== "n3";
  a!.send(heartbeat("n1", "n3", 1));
  c!.send(heartbeat("n3", "n2", 1));
  a!.send(heartbeat("n1", "n2", 1));
  await waitFor(() => got.length === 1, "the unpartitioned message");
  assert.deepEqual(got, ["n1->n2"]);
  assert.equal(a!.stats().dropped, 1);
  net.filter = null;
  // A per-transport filter drops what that node receives too.
  b!.filter = (from) => from !== "n1";
  a!.send(heartbeat("n1", "n2", 2));
  await waitFor(() => b!.stats().droppedFiltered === 1, "receiver-side filter");
  b!.filter = null;
  a!.send(heartbeat("n1", "n2", 3));
  await waitFor(() => got.length === 2, "delivery after healing");
});

Deno.test("memory transport drops messages to unknown, removed or closed nodes", async () => {
  const net = new MemoryNetwork();
  const a = net.transport("n1");
  const b = net.transport("n2");
  await a.start();
  await b.start();
  a.send(heartbeat("n1", "ghost", 1));
  assert.equal(a.stats().droppedUnknownPeer, 1);
  a.setPeers(new Map([["n3", ""]]));
  a.send(heartbeat("n1", "n2", 1));
  assert.equal(a.stats().droppedUnknownPeer, 2, "n2 is not a known peer any more");
  a.setPeers(new Map([["n2", ""]]));
  await b.close();
  a.send(heartbeat("n1", "n2", 2));
  await waitFor(() => a.stats().dropped === 3, "drop at delivery to a closed node");
  // A restarted node with the same id receives again.
  const b2 = net.transport("n2");
  await b2.start();
  let n = 0;
  b2.onMessage = () => n++;
  a.send(heartbeat("n1", "n2", 3));
  await waitFor(() => n === 1, "delivery to the restarted node");
});
