import assert from "node:assert/strict";
import {
  type Message,
  MessageType,
  type NodeId,
  type SnapshotMessage,
} from "../../src/raft/messages.ts";
import {
  MAX_INBOUND_CONNECTIONS,
  TcpTransport,
  type TcpTransportOptions,
} from "../../src/transport/tcp_transport.ts";
import { MAX_LOG_LINES_PER_WINDOW } from "../../src/transport/log_limiter.ts";
import { frameOf } from "../../src/transport/frame.ts";
import { wireEncoder } from "../../src/transport/wire.ts";
import { HANDSHAKE_TIMEOUT_MS } from "../../src/transport/handshake.ts";
import { RawClient, sampleMessages, snapshotMessage, waitFor } from "./helpers.ts";

type Logged = { level: string; msg: string; fields?: Record<string, unknown> };

/** Starts a transport on an ephemeral loopback port, logging into `logs`. */
async function node(
  id: NodeId,
  extra: Partial<TcpTransportOptions> = {},
  logs: Logged[] = [],
): Promise<TcpTransport> {
  const t = new TcpTransport({
    id,
    clusterId: "c1",
    listenAddr: "127.0.0.1:0",
    log: (level, msg, fields) => logs.push(fields ? { level, msg, fields } : { level, msg }),
    ...extra,
  });
  await t.start();
  return t;
}

/** Points every transport at every other one. */
function connectAll(ts: TcpTransport[], ids: NodeId[]): void {
  const peers = new Map(ts.map((t, i) => [ids[i]!, t.listenAddr] as const));
  for (const t of ts) t.setPeers(peers);
}

function heartbeat(from: NodeId, to: NodeId, context: number): Message {
  return { type: MessageType.Heartbeat, from, to, term: 1, commit: 0, context };
}

async function* chunksOf(bytes: Uint8Array, sizes: number[]): AsyncGenerator<Uint8Array> {
  let at = 0;
  for (let i = 0; at < bytes.length; i++) {
    const n = sizes[i % sizes.length]!;
    yield bytes.subarray(at, at + n);
    at += n;
  }
}

Deno.test("every message type round-trips over TCP, and a snapshot arrives with its bytes", async () => {
  const a = await node("n1");
  const b = await node("n2");
  try {
    connectAll([a, b], ["n1", "n2"]);
    const got: Message[] = [];
    b.onMessage = (m) => got.push(m);
    const sent = sampleMessages("n1", "n2").filter((m) => m.type !== MessageType.Snapshot);
    for (const m of sent) a.send(m);
    await waitFor(() => got.length === sent.length, "all sample messages");
    assert.deepEqual(got, sent);

    const bytes = crypto.getRandomValues(new Uint8Array(60_000)); // getRandomValues caps at 64 KiB
    const big = new Uint8Array(3 * 1024 * 1024 + 17);
    for (let at = 0; at < big.length; at += bytes.length) {
      big.set(bytes.subarray(0, big.length - at), at);
    }
    let stored: { m: SnapshotMessage; data: Uint8Array } | null = null;
    b.onSnapshot = async (m, chunks) => {
      const parts: Uint8Array[] = [];
      for await (const c of chunks) parts.push(c.slice());
      const data = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      let at = 0;
      for (const p of parts) (data.set(p, at), at += p.length);
      stored = { m, data };
    };
    const snap = snapshotMessage("n1", "n2");
    await a.sendSnapshot(snap, chunksOf(big, [1, 2_500_000, 100_000]));
    assert.ok(stored !== null, "stored before the ack");
    const s = stored as { m: SnapshotMessage; data: Uint8Array };
    assert.deepEqual(s.m, snap);
    assert.equal(s.data.length, big.length);
    assert.ok(s.data.every((v, i) => v === big[i]), "snapshot bytes intact");
    assert.equal(a.stats().snapshotsSent, 1);
    assert.equal(b.stats().snapshotsReceived, 1);
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("a failed snapshot store rejects sendSnapshot with the receiver's reason", async () => {
  const a = await node("n1");
  const b = await node("n2");
  try {
    connectAll([a, b], ["n1", "n2"]);
    b.onSnapshot = async (_m, chunks) => {
      for await (const _ of chunks) throw new Error("disk full");
    };
    await assert.rejects(
      a.sendSnapshot(snapshotMessage(), chunksOf(new Uint8Array(1000), [100])),
      /disk full/,
    );
    // Heartbeats are unaffected by the snapshot channel.
    let n = 0;
    b.onMessage = () => n++;
    a.send(heartbeat("n1", "n2", 1));
    await waitFor(() => n === 1, "heartbeat after failed snapshot");
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("100,000 messages arrive in order", async () => {
  const a = await node("n1");
  const b = await node("n2");
  try {
    connectAll([a, b], ["n1", "n2"]);
    const total = 100_000;
    let next = 0;
    let outOfOrder = 0;
    b.onMessage = (m) => {
      if (m.type !== MessageType.Heartbeat || m.context !== next) outOfOrder++;
      next++;
    };
    for (let i = 0; i < total; i++) {
      // Respect the bounded queue: the test wants zero drops, not a full-queue test.
      while (a.stats().queued >= 4_096) await new Promise((r) => setTimeout(r, 1));
      a.send(heartbeat("n1", "n2", i));
    }
    await waitFor(() => next === total, `${total} messages (got ${next})`, 30_000);
    assert.equal(outOfOrder, 0);
    assert.equal(a.stats().dropped, 0);
    assert.equal(a.stats().sent, total);
    assert.equal(b.stats().received, total);
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("after a peer restarts, the sender reconnects and delivery resumes", async () => {
  const a = await node("n1");
  let b = await node("n2");
  try {
    connectAll([a, b], ["n1", "n2"]);
    let got = 0;
    b.onMessage = () => got++;
    a.send(heartbeat("n1", "n2", 1));
    await waitFor(() => got === 1, "first delivery");
    const addr = b.listenAddr;
    await b.close();
    b = await node("n2", { listenAddr: addr });
    let after = 0;
    b.onMessage = () => after++;
    // Keep sending (as Raft's heartbeats would) until the redialed link carries one.
    for (let i = 0; after === 0; i++) {
      a.send(heartbeat("n1", "n2", i));
      await new Promise((r) => setTimeout(r, 10));
      if (i > 1_000) throw new Error("no delivery after restart");
    }
    const before = after;
    a.send(heartbeat("n1", "n2", 99));
    await waitFor(() => after === before + 1, "delivery on the new connection");
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("handshakes with a wrong cluster id or wrong secret are refused and counted; a correct peer still works", async () => {
  const logs: Logged[] = [];
  const b = await node("n2", { secret: "s3cret" }, logs);
  const good = await node("n1", { secret: "s3cret" });
  const wrongCluster = await node("n3", { secret: "s3cret", clusterId: "other" });
  const wrongSecret = await node("n4", { secret: "guess" });
  const noSecret = await node("n5");
  const all = [b, good, wrongCluster, wrongSecret, noSecret];
  try {
    connectAll(all, ["n2", "n1", "n3", "n4", "n5"]);
    const from = new Set<NodeId>();
    b.onMessage = (m) => from.add(m.from);
    for (
      const [t, id] of [[good, "n1"], [wrongCluster, "n3"], [wrongSecret, "n4"], [
        noSecret,
        "n5",
      ]] as const
    ) {
      t.send(heartbeat(id, "n2", 1));
    }
    await waitFor(() => from.has("n1"), "the correct peer's message");
    await waitFor(() => {
      const r = b.stats().rejected;
      return (r.handshake_cluster ?? 0) >= 1 && (r.handshake_mac ?? 0) >= 2;
    }, "rejection counters");
    await waitFor(
      () => (wrongCluster.stats().handshakeFailures["refused:handshake_cluster"] ?? 0) >= 1,
      "the refused side counts the refusal",
    );
    // n4 (wrong secret) and n5 (no secret) both fail to prove the secret.
    assert.ok((wrongSecret.stats().handshakeFailures["refused:handshake_mac"] ?? 0) >= 1);
    await waitFor(
      () => (noSecret.stats().handshakeFailures["refused:handshake_mac"] ?? 0) >= 1,
      "the peer without a secret is refused",
    );
    assert.deepEqual([...from], ["n1"]);
    assert.ok(logs.some((l) => l.level === "warn" && l.fields?.reason === "handshake_mac"));
  } finally {
    for (const t of all) await t.close();
  }
});

Deno.test("a replayed hello is refused because every connection gets a fresh nonce", async () => {
  const b = await node("n2", { secret: "s3cret" });
  const c1 = await RawClient.connect(b.listenAddr);
  const c2 = await RawClient.connect(b.listenAddr);
  try {
    // Record what a legitimate client writes, then replay those bytes on another connection.
    const recorded: Uint8Array[] = [];
    const write = c1.write.bind(c1);
    c1.write = (bytes) => (recorded.push(bytes.slice()), write(bytes));
    const v1 = await c1.handshake({ clusterId: "c1", from: "n1", to: "n2", secret: "s3cret" });
    assert.equal(v1.kind, "welcome");
    assert.ok((await c2.frame()) !== null, "challenge");
    await c2.write(recorded[0]!);
    const v2 = await c2.frame();
    assert.ok(v2 !== null);
    assert.equal(b.stats().rejected.handshake_mac, 1);
    assert.ok(await c2.closedByPeer());
  } finally {
    c1.close();
    c2.close();
    await b.close();
  }
});

Deno.test("a 4 GiB-1 length prefix is refused without allocation, before and after the handshake", async () => {
  const b = await node("n2");
  const a = await node("n1");
  const pre = await RawClient.connect(b.listenAddr);
  const post = await RawClient.connect(b.listenAddr);
  try {
    const rssBefore = Deno.memoryUsage().rss;
    assert.ok((await pre.frame()) !== null, "challenge");
    await pre.write(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x82]));
    assert.ok(await pre.closedByPeer());
    assert.equal((await post.handshake({ clusterId: "c1", from: "n1", to: "n2" })).kind, "welcome");
    await post.write(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x82]));
    assert.ok(await post.closedByPeer());
    assert.equal(b.stats().rejected.frame_too_large, 2);
    assert.ok(Deno.memoryUsage().rss - rssBefore < 256 * 1024 * 1024, "no 4 GiB allocation");
    // The node keeps serving well-behaved peers.
    connectAll([a, b], ["n1", "n2"]);
    let n = 0;
    b.onMessage = () => n++;
    a.send(heartbeat("n1", "n2", 1));
    await waitFor(() => n === 1, "delivery after the bad connection");
  } finally {
    pre.close();
    post.close();
    await a.close();
    await b.close();
  }
});

Deno.test("bad input after the handshake closes only that connection, with a reason counted", async () => {
  const b = await node("n2");
  const a = await node("n1");
  try {
    connectAll([a, b], ["n1", "n2"]);
    let n = 0;
    b.onMessage = () => n++;
    const enc = (v: unknown) => frameOf(Uint8Array.prototype.slice.call(wireEncoder.encode(v)));
    const cases: [string, Uint8Array][] = [
      ["invalid_cbor", frameOf(new Uint8Array([0xff, 0xfe]))],
      ["unknown_type", enc([99, "n1", "n2", 1])],
      ["invalid_field", enc([MessageType.Heartbeat, "n1", "n2", -1, 0, 0])],
      ["invalid_field", enc([MessageType.Heartbeat, "n1", "n2", 1, "0", 0])],
      ["sender_mismatch", enc([MessageType.Heartbeat, "n9", "n2", 1, 0, 0])],
      ["receiver_mismatch", enc([MessageType.Heartbeat, "n1", "n3", 1, 0, 0])],
      ["empty_frame", new Uint8Array(4)],
      ["truncated_frame", frameOf(new Uint8Array(100)).subarray(0, 50)],
    ];
    for (const [reason, bytes] of cases) {
      const c = await RawClient.connect(b.listenAddr);
      try {
        assert.equal(
          (await c.handshake({ clusterId: "c1", from: "n1", to: "n2" })).kind,
          "welcome",
        );
        await c.write(bytes);
        if (reason === "truncated_frame") c.close();
        else assert.ok(await c.closedByPeer(), reason);
        await waitFor(() => (b.stats().rejected[reason] ?? 0) >= 1, `counter ${reason}`);
      } finally {
        c.close();
      }
    }
    a.send(heartbeat("n1", "n2", 1));
    await waitFor(() => n === 1, "the good peer is unaffected");
    assert.equal(b.stats().rejected.invalid_field, 2);
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("sending to an unknown peer counts a drop and never throws", async () => {
  const a = await node("n1");
  try {
    a.send(heartbeat("n1", "nobody", 1));
    assert.equal(a.stats().droppedUnknownPeer, 1);
    await assert.rejects(
      a.sendSnapshot(snapshotMessage("n1", "nobody"), chunksOf(new Uint8Array(1), [1])),
    );
  } finally {
    await a.close();
  }
});

Deno.test("a full send queue drops the oldest messages and counts them", async () => {
  const a = await node("n1", { maxSendQueue: 4 });
  const b = await node("n2");
  const addr = b.listenAddr;
  await b.close(); // nothing listens there now: messages stay queued
  try {
    a.setPeers(new Map([["n2", addr]]));
    for (let i = 0; i < 10; i++) a.send(heartbeat("n1", "n2", i));
    const s = a.stats();
    assert.equal(s.droppedQueueFull, 6);
    assert.equal(s.queued, 4);
    // Once the peer is back, the newest four arrive.
    const b2 = await node("n2", { listenAddr: addr });
    try {
      const got: number[] = [];
      b2.onMessage = (m) => m.type === MessageType.Heartbeat && got.push(m.context);
      await waitFor(() => got.length === 4, "queued messages after reconnect");
      assert.deepEqual(got, [6, 7, 8, 9]);
    } finally {
      await b2.close();
    }
  } finally {
    await a.close();
  }
});

Deno.test("the fault filter drops messages in both directions", async () => {
  const a = await node("n1");
  const b = await node("n2");
  try {
    connectAll([a, b], ["n1", "n2"]);
    let n = 0;
    b.onMessage = () => n++;
    a.filter = () => false;
    a.send(heartbeat("n1", "n2", 1));
    assert.equal(a.stats().droppedFiltered, 1);
    a.filter = null;
    b.filter = (from) => from !== "n1";
    a.send(heartbeat("n1", "n2", 2));
    await waitFor(() => b.stats().droppedFiltered === 1, "inbound filter");
    b.filter = null;
    a.send(heartbeat("n1", "n2", 3));
    await waitFor(() => n === 1, "delivery once the filter is lifted");
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("removing a peer closes its connection and later sends count as drops", async () => {
  const a = await node("n1");
  const b = await node("n2");
  try {
    connectAll([a, b], ["n1", "n2"]);
    let n = 0;
    b.onMessage = () => n++;
    a.send(heartbeat("n1", "n2", 1));
    await waitFor(() => n === 1, "first delivery");
    a.setPeers(new Map());
    a.send(heartbeat("n1", "n2", 2));
    assert.equal(a.stats().droppedUnknownPeer, 1);
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("a client with a secret refuses a server that cannot prove it", async () => {
  const open = await node("n2"); // no secret: its welcome carries no proof
  const client = await node("n1", { secret: "s3cret" });
  try {
    connectAll([client, open], ["n1", "n2"]);
    client.send(heartbeat("n1", "n2", 1));
    await waitFor(
      () => (client.stats().handshakeFailures.peer_mac ?? 0) >= 1,
      "the client to count the unproven server",
    );
    assert.equal(open.stats().received, 0);
  } finally {
    await client.close();
    await open.close();
  }
});

Deno.test("a Snapshot message on the Raft channel is rejected: snapshots need their own channel", async () => {
  const b = await node("n2");
  const c = await RawClient.connect(b.listenAddr);
  try {
    assert.equal((await c.handshake({ clusterId: "c1", from: "n1", to: "n2" })).kind, "welcome");
    const { MessageFrameEncoder } = await import("../../src/transport/wire_encoder.ts");
    const enc = new MessageFrameEncoder();
    enc.append(snapshotMessage("n1", "n2"));
    await c.write(enc.bytes());
    assert.ok(await c.closedByPeer());
    assert.equal(b.stats().rejected.snapshot_on_raft_channel, 1);
  } finally {
    c.close();
    await b.close();
  }
});

Deno.test("a client that never completes the handshake is cut off after the handshake timeout", async () => {
  const b = await node("n2");
  const c = await RawClient.connect(b.listenAddr);
  try {
    assert.ok((await c.frame()) !== null, "challenge");
    // Send nothing: the server must not wait forever (HANDSHAKE_TIMEOUT_MS).
    assert.ok(await c.closedByPeer());
    assert.equal(b.stats().rejected.handshake_timeout, 1);
  } finally {
    c.close();
    await b.close();
  }
});

Deno.test("heartbeats keep flowing while a large snapshot is still being streamed", async () => {
  const a = await node("n1");
  const b = await node("n2");
  try {
    connectAll([a, b], ["n1", "n2"]);
    let heartbeats = 0;
    b.onMessage = () => heartbeats++;
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    let chunksSeen = 0;
    b.onSnapshot = async (_m, chunks) => {
      for await (const _ of chunks) {
        // Stall after the first chunk: the sender's socket fills up and blocks.
        if (++chunksSeen === 1) await gate;
      }
    };
    const big = new Uint8Array(32 * 1024 * 1024);
    const sending = a.sendSnapshot(snapshotMessage("n1", "n2"), chunksOf(big, [1024 * 1024]));
    await waitFor(() => chunksSeen === 1, "the snapshot to start");
    for (let i = 0; i < 10; i++) a.send(heartbeat("n1", "n2", i));
    await waitFor(() => heartbeats === 10, "heartbeats during the snapshot");
    assert.equal(chunksSeen, 1, "the snapshot was still stalled when the heartbeats arrived");
    release();
    await sending;
    assert.equal(b.stats().snapshotsReceived, 1);
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("a peer that moves to a new address is redialed there", async () => {
  const a = await node("n1");
  const b1 = await node("n2");
  const b2 = await node("n2");
  try {
    let got1 = 0;
    let got2 = 0;
    b1.onMessage = () => got1++;
    b2.onMessage = () => got2++;
    a.setPeers(new Map([["n2", b1.listenAddr]]));
    a.send(heartbeat("n1", "n2", 1));
    await waitFor(() => got1 === 1, "delivery at the old address");
    a.setPeers(new Map([["n2", b2.listenAddr]]));
    a.send(heartbeat("n1", "n2", 2));
    await waitFor(() => got2 === 1, "delivery at the new address");
    assert.equal(got1, 1);
  } finally {
    await a.close();
    await b1.close();
    await b2.close();
  }
});

Deno.test("close does not wait for a dial stuck in its handshake", async () => {
  // A listener that never accepts: connects complete in the kernel, no challenge ever comes.
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const a = await node("n1");
  try {
    a.setPeers(new Map([["n2", `127.0.0.1:${silent.addr.port}`]]));
    a.send(heartbeat("n1", "n2", 1));
    const snapshot = a.sendSnapshot(snapshotMessage("n1", "n2"), chunksOf(new Uint8Array(1), [1]));
    await new Promise((r) => setTimeout(r, 100)); // let both dials reach the handshake
    const started = Date.now();
    await a.close();
    await assert.rejects(snapshot);
    assert.ok(
      Date.now() - started < HANDSHAKE_TIMEOUT_MS / 2,
      "closed without waiting out the handshake",
    );
  } finally {
    await a.close();
    silent.close();
  }
});

Deno.test("messages dropped before sending are counted per peer", async () => {
  const t = new TcpTransport({ id: "a", clusterId: "c", listenAddr: "127.0.0.1:0" });
  await t.start();
  try {
    t.send({ type: MessageType.Heartbeat, from: "a", to: "ghost", term: 1, commit: 0, context: 0 });
    t.send({ type: MessageType.Heartbeat, from: "a", to: "ghost", term: 1, commit: 0, context: 0 });
    assert.equal(t.stats().droppedByPeer["ghost"], 2);
  } finally {
    await t.close();
  }
});

Deno.test("a flood of silent connections cannot lock a real peer out, and logs stay bounded", async () => {
  const logs: Logged[] = [];
  const b = await node("n2", { secret: "s3cret" }, logs);
  const good = await node("n1", { secret: "s3cret" });
  const silent: Deno.TcpConn[] = [];
  try {
    const { port } = parseHostPortForTest(b.listenAddr);
    // More silent connections than the port takes, opened before the real peer dials.
    for (let i = 0; i < MAX_INBOUND_CONNECTIONS + 50; i++) {
      silent.push(await Deno.connect({ hostname: "127.0.0.1", port }));
    }
    connectAll([b, good], ["n2", "n1"]);
    const from = new Set<NodeId>();
    b.onMessage = (m) => from.add(m.from);
    good.send(heartbeat("n1", "n2", 1));
    // Well before the 5 s handshake timeout would have freed any slot.
    await waitFor(() => from.has("n1"), "the real peer's message", HANDSHAKE_TIMEOUT_MS / 2);
    assert.ok((b.stats().rejected.evicted_in_handshake ?? 0) >= 50);
    assert.ok(logs.length <= MAX_LOG_LINES_PER_WINDOW * 3, `${logs.length} log lines`);
  } finally {
    for (const c of silent) {
      try {
        c.close();
      } catch { /* evicted already */ }
    }
    await b.close();
    await good.close();
  }
});

function parseHostPortForTest(addr: string): { port: number } {
  return { port: Number(addr.slice(addr.lastIndexOf(":") + 1)) };
}
