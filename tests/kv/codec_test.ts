import assert from "node:assert/strict";
import { decodeEnvelope, encodeEnvelope, ENVELOPE_FORMAT } from "../../src/kv/codec.ts";
import { MAX_KEY_BYTES, MAX_VALUE_BYTES, validateKey, validateValue } from "../../src/kv/limits.ts";
import { RaftkvError } from "../../src/errors.ts";
import type { KvEnvelope } from "../../src/kv/types.ts";
import { Encoder } from "cbor-x";
import { bytes, delCmd, prng, putCmd, T0 } from "./helpers.ts";

const cbor = new Encoder({ useRecords: false, tagUint8Array: false });

function isCode(code: string) {
  return (error: unknown) => error instanceof RaftkvError && error.code === code;
}

Deno.test("every command round-trips through the codec unchanged", () => {
  const envelopes: KvEnvelope[] = [
    { command: putCmd("a", "v"), idempotencyKey: null, nowMs: T0 },
    {
      command: putCmd("ключ/🔑", new Uint8Array([0, 255]), {
        ttlMs: 5000,
        ifModRevision: 0,
        createOnly: true,
      }),
      idempotencyKey: "req-1",
      nowMs: 0,
    },
    { command: delCmd("a", 7), idempotencyKey: null, nowMs: T0 },
    { command: { op: "deletePrefix", prefix: "" }, idempotencyKey: "x", nowMs: T0 },
    { command: { op: "expire" }, idempotencyKey: null, nowMs: Number.MAX_SAFE_INTEGER },
  ];
  for (const env of envelopes) {
    const decoded = decodeEnvelope(encodeEnvelope(env));
    assert.deepEqual(decoded, env);
    if (decoded.command.op === "put") {
      assert.equal(Object.getPrototypeOf(decoded.command.value), Uint8Array.prototype);
    }
  }
});

Deno.test("encoded envelopes are plain owned bytes, not views on a shared buffer", () => {
  const a = encodeEnvelope({ command: putCmd("a", "1"), idempotencyKey: null, nowMs: T0 });
  const b = encodeEnvelope({ command: putCmd("b", "2"), idempotencyKey: null, nowMs: T0 });
  assert.equal(a.byteOffset, 0);
  assert.equal(a.buffer.byteLength, a.byteLength);
  assert.notDeepEqual(a, b);
  assert.equal((decodeEnvelope(a).command as { key: string }).key, "a");
});

Deno.test("decoding garbage throws bad_request and never crashes", () => {
  const seed = Date.now() % 1_000_000;
  console.log(`codec fuzz seed ${seed}`);
  const random = prng(seed);
  for (let i = 0; i < 5_000; i++) {
    const junk = new Uint8Array(Math.floor(random() * 64));
    for (let j = 0; j < junk.length; j++) junk[j] = Math.floor(random() * 256);
    try {
      decodeEnvelope(junk);
    } catch (error) {
      assert.ok(error instanceof RaftkvError, `seed ${seed}: ${String(error)}`);
      assert.ok(error.code === "bad_request" || error.code === "too_large");
    }
  }
});

Deno.test("tiny headers declaring huge lengths or deep nesting are refused cheaply", () => {
  const hostile = [
    [0x9a, 0x06, 0x00, 0x00, 0x00], // an array of 100M items in 5 bytes
    [0x9b, 0, 0, 0, 1, 0, 0, 0, 0],
    [0x5a, 0xff, 0xff, 0xff, 0xff], // a 4 GiB byte string
    [0xba, 0xff, 0xff, 0xff, 0xff], // a map of 4G pairs
    [...new Array(5000).fill(0x81), 0], // nesting past the stack
  ];
  for (const input of hostile) {
    assert.throws(() => decodeEnvelope(new Uint8Array(input)), isCode("bad_request"));
  }
});

Deno.test("decoding rejects well-formed CBOR of the wrong shape", () => {
  const bad: unknown[] = [
    {},
    "text",
    [],
    [ENVELOPE_FORMAT, T0, null],
    [99, T0, null, 4],
    [ENVELOPE_FORMAT, -1, null, 4],
    [ENVELOPE_FORMAT, 1.5, null, 4],
    [ENVELOPE_FORMAT, T0, 5, 4],
    [ENVELOPE_FORMAT, T0, null, 9],
    [ENVELOPE_FORMAT, T0, null, 4, "extra"],
    [ENVELOPE_FORMAT, T0, null, 1, "k", "not bytes", null, null, false],
    [ENVELOPE_FORMAT, T0, null, 1, "", bytes("v"), null, null, false],
    [ENVELOPE_FORMAT, T0, null, 1, "k", bytes("v"), 0, null, false],
    [ENVELOPE_FORMAT, T0, null, 1, "k", bytes("v"), null, -3, false],
    [ENVELOPE_FORMAT, T0, null, 1, "k", bytes("v"), null, null, "yes"],
    [ENVELOPE_FORMAT, T0, null, 2, "k"],
    [ENVELOPE_FORMAT, T0, null, 3, 7],
  ];
  for (const wire of bad) {
    assert.throws(
      () => decodeEnvelope(new Uint8Array(cbor.encode(wire))),
      isCode("bad_request"),
      JSON.stringify(wire),
    );
  }
});

Deno.test("oversized envelopes, keys and values are refused as too_large", () => {
  const bigKey = "k".repeat(MAX_KEY_BYTES + 1);
  assert.throws(() => validateKey(bigKey), isCode("too_large"));
  assert.throws(() => validateKey("é".repeat(MAX_KEY_BYTES / 2 + 1)), isCode("too_large"));
  validateKey("é".repeat(MAX_KEY_BYTES / 2));
  assert.throws(() => validateKey(""), isCode("bad_request"));
  // A lone surrogate has no UTF-8 form; CBOR would silently replace it.
  assert.throws(
    () => encodeEnvelope({ command: delCmd("a\ud800"), idempotencyKey: null, nowMs: T0 }),
    isCode("bad_request"),
  );
  assert.throws(() => validateValue(new Uint8Array(MAX_VALUE_BYTES + 1)), isCode("too_large"));
  validateValue(new Uint8Array(MAX_VALUE_BYTES));
  assert.throws(
    () => encodeEnvelope({ command: putCmd(bigKey, "v"), idempotencyKey: null, nowMs: T0 }),
    isCode("too_large"),
  );
  const wire = [ENVELOPE_FORMAT, T0, null, 1, bigKey, bytes("v"), null, null, false];
  assert.throws(() => decodeEnvelope(new Uint8Array(cbor.encode(wire))), isCode("too_large"));
  assert.throws(() => decodeEnvelope(new Uint8Array(3 * 1024 * 1024)), isCode("too_large"));
});
