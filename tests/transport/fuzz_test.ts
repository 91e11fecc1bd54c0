/**
 * Fuzzing the boundary: the frame reader, the message validator and the handshake
 * parsers see random and mutated input. Nothing may throw (other than the typed
 * rejection), hang, or grow memory. Set FUZZ_SEED to replay a run.
 */

import assert from "node:assert/strict";
import { MessageType } from "../../src/raft/messages.ts";
import { frameOf, FrameReader, ProtocolError } from "../../src/transport/frame.ts";
import {
  encodeChallenge,
  encodeHello,
  encodeVerdict,
  parseChallenge,
  parseHello,
  parseVerdict,
} from "../../src/transport/handshake.ts";
import { TcpTransport } from "../../src/transport/tcp_transport.ts";
import { decodeMessage, encodeMessage, toWire, wireEncoder } from "../../src/transport/wire.ts";
import { prng, RawClient, sampleMessages, waitFor } from "./helpers.ts";

const SEED = Number(Deno.env.get("FUZZ_SEED") ?? Date.now() % 2 ** 31);
const FRAMES = 100_000;
const KNOWN_REASONS = new Set(["invalid_cbor", "unknown_type", "invalid_field"]);

function copy(b: Uint8Array): Uint8Array {
  return Uint8Array.prototype.slice.call(b);
}

/** Valid payloads to mutate: every message type plus every handshake frame. */
function corpus(): Uint8Array[] {
  const nonce = new Uint8Array(32).fill(7);
  return [
    ...sampleMessages().map((m) => copy(encodeMessage(m))),
    encodeChallenge({ version: 1, nonce }),
    encodeHello({
      version: 1,
      clusterId: "c1",
      from: "n1",
      to: "n2",
      channel: "raft",
      nonce,
      mac: new Uint8Array(32),
    }),
    encodeVerdict({ kind: "welcome", mac: new Uint8Array(32) }),
    encodeVerdict({ kind: "reject", reason: "handshake_mac" }),
  ];
}

/** A random CBOR-able value, biased towards shapes close to real messages. */
function randomValue(r: () => number, depth = 0): unknown {
  const k = Math.floor(r() * 12);
  switch (k) {
    case 0:
      return Math.floor(r() * 20) - 2;
    case 1:
      return Math.floor(r() * 2 ** 53) * (r() < 0.1 ? -1 : 1);
    case 2:
      return r() * 1e6;
    case 3:
      return r() < 0.5;
    case 4:
      return null;
    case 5:
      return "n" + Math.floor(r() * 4);
    case 6:
      return "x".repeat(Math.floor(r() * 300));
    case 7:
      return crypto.getRandomValues(new Uint8Array(Math.floor(r() * 40)));
    case 8:
    case 9:
      if (depth > 3) return 0;
      return Array.from({ length: Math.floor(r() * 10) }, () => randomValue(r, depth + 1));
    case 10:
      // A map with hostile keys: must never reach an object prototype.
      return depth > 3 ? {} : new Map<unknown, unknown>([["__proto__", { polluted: 1 }], [
        1,
        randomValue(r, depth + 1),
      ]]);
    default:
      return undefined;
  }
}

/** One fuzz payload: random bytes, a mutated valid payload, or a structurally random message. */
function payload(r: () => number, seeds: Uint8Array[]): Uint8Array {
  const mode = Math.floor(r() * 4);
  if (mode === 0) {
    const b = new Uint8Array(1 + Math.floor(r() * 64));
    for (let i = 0; i < b.length; i++) b[i] = Math.floor(r() * 256);
    return b;
  }
  if (mode === 1) {
    const b = seeds[Math.floor(r() * seeds.length)]!.slice();
    const flips = 1 + Math.floor(r() * 4);
    for (let i = 0; i < flips; i++) {
      const at = Math.floor(r() * b.length);
      b[at] = r() < 0.5 ? b[at]! ^ (1 << Math.floor(r() * 8)) : Math.floor(r() * 256);
    }
    const cut = r() < 0.2 ? Math.floor(r() * b.length) : b.length;
    return b.subarray(0, Math.max(1, cut));
  }
  if (mode === 2) {
    // A real message with one field replaced by a random value.
    const samples = sampleMessages();
    const wire = toWire(samples[Math.floor(r() * samples.length)]!);
    wire[Math.floor(r() * wire.length)] = randomValue(r);
    if (r() < 0.1) wire.push(randomValue(r));
    return copy(wireEncoder.encode(wire));
  }
  const v = [Math.floor(r() * 16), randomValue(r), randomValue(r), randomValue(r), randomValue(r)];
  return copy(wireEncoder.encode(v.slice(0, 1 + Math.floor(r() * 5))));
}

/** Runs every parser over `p`; throws only on a bug (an unexpected exception). */
function parseAll(p: Uint8Array): boolean {
  const m = decodeMessage(p);
  if (m.ok) {
    // Whatever validates must re-encode to something that validates identically.
    const again = decodeMessage(copy(encodeMessage(m.value)));
    assert.ok(again.ok);
    assert.deepEqual(again.value, m.value);
  } else {
    assert.ok(KNOWN_REASONS.has(m.reason), `unexpected reason ${m.reason}`);
  }
  parseChallenge(p);
  parseHello(p);
  parseVerdict(p);
  return m.ok;
}

Deno.test(`fuzz: ${FRAMES} random and mutated frames never crash, hang or grow memory (seed ${SEED})`, () => {
  console.log(`fuzz seed ${SEED} (replay with FUZZ_SEED=${SEED})`);
  const r = prng(SEED);
  const seeds = corpus();
  const maxFrameBytes = 64 * 1024;
  let reader = new FrameReader(maxFrameBytes, 256);
  const counts = { frames: 0, valid: 0, rejectedStreams: 0 };
  let slowestMs = 0;
  // heap + external (ArrayBuffers) belong to this isolate; rss is the whole process,
  // which other test modules share under --parallel, so it is printed, not asserted.
  const before = Deno.memoryUsage();
  try {
    for (let i = 0; counts.frames < FRAMES; i++) {
      const started = performance.now();
      const p = payload(r, seeds);
      // Usually a well-formed frame; sometimes a lying length prefix or raw garbage.
      let bytes = frameOf(p);
      const lie = r();
      if (lie < 0.05) new DataView(bytes.buffer).setUint32(0, Math.floor(r() * 2 ** 32));
      else if (lie < 0.08) bytes = p;
      try {
        for (const f of reader.push(bytes)) {
          counts.frames++;
          if (parseAll(f)) counts.valid++;
        }
      } catch (e) {
        if (!(e instanceof ProtocolError)) throw e;
        counts.rejectedStreams++;
        reader = new FrameReader(maxFrameBytes, 256); // the connection would close
      }
      assert.ok(reader.capacity <= maxFrameBytes + 4, "reader stays under its hard cap");
      slowestMs = Math.max(slowestMs, performance.now() - started);
    }
  } catch (e) {
    console.error(`fuzz failure with seed ${SEED}`);
    throw e;
  }
  const after = Deno.memoryUsage();
  const growth = after.heapUsed + after.external - before.heapUsed - before.external;
  const rssGrowth = after.rss - before.rss;
  const mib = (n: number) => (n / 2 ** 20).toFixed(1);
  console.log(
    `fuzz: ${counts.frames} frames parsed, ${counts.valid} valid, ` +
      `${counts.rejectedStreams} streams rejected, slowest iteration ${slowestMs.toFixed(2)} ms, ` +
      `heap+external growth ${mib(growth)} MiB, rss growth ${mib(rssGrowth)} MiB`,
  );
  assert.equal(({} as Record<string, unknown>).polluted, undefined, "no prototype pollution");
  // A hang guard, not a performance goal: generous because CI machines pause for GC.
  assert.ok(slowestMs < 5_000, "no single input takes seconds");
  assert.ok(growth < 128 * 2 ** 20, `heap+external grew by ${growth} bytes`);
});

Deno.test(`fuzz: random bytes on live sockets close only those connections (seed ${SEED})`, async () => {
  const r = prng(SEED ^ 0x5eed);
  const logs: string[] = [];
  const b = new TcpTransport({
    id: "n2",
    clusterId: "c1",
    listenAddr: "127.0.0.1:0",
    log: (_l, msg) => logs.push(msg),
  });
  b.onSnapshot = async (_m, chunks) => {
    for await (const _ of chunks) { /* discard */ }
  };
  const a = new TcpTransport({ id: "n1", clusterId: "c1", listenAddr: "127.0.0.1:0" });
  await b.start();
  await a.start();
  const seeds = corpus();
  try {
    for (let i = 0; i < 200; i++) {
      const c = await RawClient.connect(b.listenAddr);
      try {
        const afterHandshake = r() < 0.5;
        const channel = r() < 0.3 ? "snapshot" : "raft";
        if (afterHandshake) await c.handshake({ clusterId: "c1", from: "n1", to: "n2", channel });
        else await c.frame(); // the challenge
        const junk = r() < 0.5 ? frameOf(payload(r, seeds)) : payload(r, seeds);
        await c.write(junk);
      } finally {
        c.close();
      }
    }
    a.setPeers(new Map([["n2", b.listenAddr]]));
    // Junk that happened to be a valid message may still be arriving: look for ours.
    const marker = 424_242;
    let arrived = false;
    b.onMessage = (m) => {
      if (m.type === MessageType.Heartbeat && m.context === marker) arrived = true;
    };
    a.send({
      type: MessageType.Heartbeat,
      from: "n1",
      to: "n2",
      term: 1,
      commit: 0,
      context: marker,
    });
    await waitFor(() => arrived, "a good peer still gets through");
    const rejected = Object.values(b.stats().rejected).reduce((x, y) => x + y, 0);
    console.log(`socket fuzz: rejected ${JSON.stringify(b.stats().rejected)}`);
    assert.ok(rejected > 0);
  } finally {
    await a.close();
    await b.close();
  }
});
