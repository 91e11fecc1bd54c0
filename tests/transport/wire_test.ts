import assert from "node:assert/strict";
import { MessageType } from "../../src/raft/messages.ts";
import {
  decodeMessage,
  encodeMessage,
  fromWire,
  MAX_CONF_MEMBERS,
  MAX_NODE_ID_LENGTH,
  toWire,
  wireEncoder,
} from "../../src/transport/wire.ts";
import { sampleMessages } from "./helpers.ts";

function encodeValue(v: unknown): Uint8Array {
  return Uint8Array.prototype.slice.call(wireEncoder.encode(v));
}

function reasonOf(v: unknown): string {
  const r = fromWire(v);
  assert.equal(r.ok, false, `expected rejection of ${JSON.stringify(v)}`);
  return r.ok ? "" : r.reason;
}

Deno.test("every message type survives encode and decode unchanged", () => {
  const samples = sampleMessages();
  const types = new Set(samples.map((m) => m.type));
  assert.equal(types.size, Object.keys(MessageType).length, "samples cover every type");
  for (const m of samples) {
    const bytes = Uint8Array.prototype.slice.call(encodeMessage(m));
    const r = decodeMessage(bytes);
    assert.ok(r.ok, `type ${m.type}`);
    assert.deepEqual(r.value, m);
  }
});

Deno.test("entry data decodes as a Uint8Array view without per-entry copies", () => {
  const append = sampleMessages()[0]!;
  const bytes = Uint8Array.prototype.slice.call(encodeMessage(append));
  const r = decodeMessage(bytes);
  assert.ok(r.ok && r.value.type === MessageType.Append);
  const data = r.value.entries[0]!.data;
  assert.equal(data.constructor, Uint8Array, "a plain Uint8Array, not a Node Buffer");
  assert.equal(data.buffer, bytes.buffer, "entry data aliases the frame buffer");
});

Deno.test("unknown message types are rejected as unknown_type", () => {
  assert.equal(reasonOf([0, "a", "b", 1]), "unknown_type");
  assert.equal(reasonOf([13, "a", "b", 1]), "unknown_type");
  assert.equal(reasonOf(["1", "a", "b", 1]), "unknown_type");
  assert.equal(reasonOf([1.5, "a", "b", 1]), "unknown_type");
});

Deno.test("wrong field types and ranges are rejected as invalid_field", () => {
  const hb = toWire(sampleMessages()[7]!);
  const bad: unknown[][] = [
    [...hb.slice(0, 3), -1, ...hb.slice(4)], // negative term
    [...hb.slice(0, 3), 1.5, ...hb.slice(4)], // fractional term
    [...hb.slice(0, 3), 2 ** 53, ...hb.slice(4)], // unsafe integer
    [...hb.slice(0, 3), "1", ...hb.slice(4)],
    [hb[0], "", ...hb.slice(2)], // empty node id
    [hb[0], "x".repeat(MAX_NODE_ID_LENGTH + 1), ...hb.slice(2)],
    [hb[0], 5, ...hb.slice(2)],
    [...hb, 1], // extra field
    hb.slice(0, -1), // missing field
  ];
  for (const v of bad) assert.equal(reasonOf(v), "invalid_field", JSON.stringify(v));
  assert.equal(reasonOf("not an array"), "invalid_field");
  assert.equal(reasonOf({ 0: 7 }), "invalid_field");
  assert.equal(reasonOf([7, "a"]), "invalid_field");
});

Deno.test("entries must be well-typed, of a known entry type, and bounded", () => {
  const base = [MessageType.Append, "a", "b", 1, 0, 0, 0];
  const ok = fromWire([...base, [1, 1, 0, new Uint8Array([1])]]);
  assert.ok(ok.ok);
  assert.equal(reasonOf([...base, [1, 1, 2, new Uint8Array([1])]]), "invalid_field");
  assert.equal(reasonOf([...base, [1, 1, 0, "text"]]), "invalid_field");
  assert.equal(reasonOf([...base, [1, 1, 0, [1, 2]]]), "invalid_field");
  assert.equal(reasonOf([...base, [1, 1, 0]]), "invalid_field");
  assert.equal(reasonOf([...base, [1, -1, 0, new Uint8Array()]]), "invalid_field");
  assert.equal(reasonOf([...base, { length: 4 }]), "invalid_field");
  const bools = [MessageType.VoteResponse, "a", "b", 1, 1];
  assert.equal(reasonOf(bools), "invalid_field");
});

Deno.test("snapshot membership lists are bounded and disjoint", () => {
  const base = [MessageType.Snapshot, "a", "b", 1, 10, 1];
  assert.ok(fromWire([...base, ["a"], []]).ok);
  assert.equal(reasonOf([...base, ["a"], ["a"]]), "invalid_field");
  assert.equal(reasonOf([...base, [1], []]), "invalid_field");
  const many = Array.from({ length: MAX_CONF_MEMBERS + 1 }, (_, i) => `n${i}`);
  assert.equal(reasonOf([...base, many, []]), "invalid_field");
});

Deno.test("invalid CBOR and trailing bytes are rejected as invalid_cbor", () => {
  const r1 = decodeMessage(new Uint8Array([0x9f])); // indefinite array, never closed
  assert.deepEqual(r1, { ok: false, reason: "invalid_cbor" });
  const good = encodeValue(toWire(sampleMessages()[7]!));
  const trailing = new Uint8Array([...good, 0x00]);
  assert.deepEqual(decodeMessage(trailing), { ok: false, reason: "invalid_cbor" });
  const huge = new Uint8Array([0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]); // 2^64-1 items
  assert.equal(decodeMessage(huge).ok, false);
});
