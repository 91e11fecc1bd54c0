import assert from "node:assert/strict";
import { type Entry, type Message, MessageType } from "../../src/raft/messages.ts";
import { FrameReader } from "../../src/transport/frame.ts";
import { decodeMessage, toWire, wireEncoder } from "../../src/transport/wire.ts";
import { MessageFrameEncoder } from "../../src/transport/wire_encoder.ts";
import { prng, sampleMessages } from "./helpers.ts";

const SEED = Number(Deno.env.get("FUZZ_SEED") ?? Date.now() % 2 ** 31);

/** Numbers around every CBOR head-size boundary, and the float64 range cbor-x uses above 2^32. */
const EDGES = [
  0,
  1,
  23,
  24,
  255,
  256,
  65_535,
  65_536,
  2 ** 32 - 1,
  2 ** 32,
  2 ** 40 + 7,
  Number.MAX_SAFE_INTEGER,
];

function randomMessage(r: () => number): Message {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const num = () => r() < 0.5 ? pick(EDGES) : Math.floor(r() * 1000);
  const id = () => "n".repeat(1 + Math.floor(r() * 40)) + pick(["", "é", "☃", "𝄞"]);
  const sizes = [0, 1, 23, 24, 100, 255, 256, 65_536, 70_000];
  const entries: Entry[] = Array.from({ length: pick([0, 1, 5, 6, 64]) }, () => ({
    term: num(),
    index: num(),
    type: pick([0, 1] as const),
    data: new Uint8Array(r() < 0.1 ? pick(sizes) : Math.floor(r() * 200)).fill(7),
  }));
  const base = { from: id(), to: id(), term: num() };
  const all: Message[] = [
    {
      ...base,
      type: MessageType.Append,
      prevIndex: num(),
      prevTerm: num(),
      commit: num(),
      entries,
    },
    {
      ...base,
      type: MessageType.AppendResponse,
      index: num(),
      reject: r() < 0.5,
      hintIndex: num(),
      hintTerm: num(),
    },
    { ...base, type: MessageType.Vote, lastIndex: num(), lastTerm: num(), transfer: r() < 0.5 },
    { ...base, type: MessageType.PreVoteResponse, reject: r() < 0.5 },
    { ...base, type: MessageType.Heartbeat, commit: num(), context: num() },
    {
      ...base,
      type: MessageType.Snapshot,
      snapshot: {
        index: num(),
        term: num(),
        conf: {
          voters: Array.from({ length: pick([0, 3, 30]) }, (_, i) => `v${i}`),
          learners: ["l"],
        },
      },
    },
    { ...base, type: MessageType.ReadIndexResponse, context: num(), index: num(), reject: true },
  ];
  return pick(all);
}

Deno.test(`the frame encoder writes exactly what cbor-x writes for the wire form (seed ${SEED})`, () => {
  const r = prng(SEED);
  const enc = new MessageFrameEncoder(16);
  const messages = [...sampleMessages(), ...Array.from({ length: 2_000 }, () => randomMessage(r))];
  for (const m of messages) {
    enc.reset();
    const size = enc.append(m);
    const mine = enc.bytes();
    const reference = wireEncoder.encode(toWire(m));
    assert.equal(size, reference.length, `seed ${SEED}, type ${m.type}`);
    assert.equal(new DataView(mine.buffer, mine.byteOffset).getUint32(0), size);
    assert.deepEqual(mine.subarray(4), new Uint8Array(reference), `seed ${SEED}`);
  }
});

Deno.test("frames from the encoder decode back to the same messages through the reader", () => {
  const enc = new MessageFrameEncoder();
  const sent = sampleMessages();
  for (const m of sent) enc.append(m);
  const reader = new FrameReader(1024 * 1024);
  const got = reader.push(enc.bytes()).map((f) => {
    const d = decodeMessage(f);
    assert.ok(d.ok);
    return d.value;
  });
  assert.deepEqual(got, sent);
});
