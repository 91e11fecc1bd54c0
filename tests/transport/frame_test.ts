import assert from "node:assert/strict";
import { frameOf, FrameReader, FrameWriter, ProtocolError } from "../../src/transport/frame.ts";

function payload(n: number, fill: number): Uint8Array {
  return new Uint8Array(n).fill(fill);
}

Deno.test("many frames in one read are all returned, in order", () => {
  const w = new FrameWriter(16);
  for (let i = 1; i <= 100; i++) w.append(payload(i, i));
  const frames = new FrameReader(1024).push(w.bytes());
  assert.equal(frames.length, 100);
  frames.forEach((f, i) => assert.deepEqual(f, payload(i + 1, i + 1)));
});

Deno.test("a frame split across reads at every byte boundary is reassembled", () => {
  const bytes = frameOf(payload(300, 7));
  for (let cut = 0; cut <= bytes.length; cut++) {
    const r = new FrameReader(1024, 8);
    const first = r.push(bytes.subarray(0, cut));
    const second = r.push(bytes.subarray(cut));
    assert.equal(first.length + second.length, 1, `cut at ${cut}`);
    assert.equal(r.buffered, 0);
  }
});

Deno.test("frames larger than the initial buffer grow it, but never past the limit", () => {
  const r = new FrameReader(100_000, 64);
  const frames = r.push(frameOf(payload(90_000, 3)));
  assert.equal(frames.length, 1);
  assert.ok(r.capacity <= 100_000 + 4);
});

Deno.test("a 4 GiB-1 length prefix is refused before any allocation", () => {
  const r = new FrameReader(16 * 1024 * 1024);
  const before = r.capacity;
  assert.throws(
    () => r.push(new Uint8Array([0xff, 0xff, 0xff, 0xff, 1, 2, 3])),
    (e: unknown) => e instanceof ProtocolError && e.reason === "frame_too_large",
  );
  assert.equal(r.capacity, before, "the buffer did not grow");
});

Deno.test("a zero-length frame is refused", () => {
  assert.throws(
    () => new FrameReader(1024).push(new Uint8Array([0, 0, 0, 0])),
    (e: unknown) => e instanceof ProtocolError && e.reason === "empty_frame",
  );
});

Deno.test("frames returned are copies the reader never overwrites", () => {
  const r = new FrameReader(1024, 16);
  const a = r.push(frameOf(payload(8, 1)))[0]!;
  r.push(frameOf(payload(8, 2)));
  assert.deepEqual(a, payload(8, 1));
});

Deno.test("raising the limit after a handshake gives the reader a full-size buffer", () => {
  const r = new FrameReader(1024);
  assert.ok(r.capacity <= 1028);
  r.maxFrameBytes = 16 * 1024 * 1024;
  assert.ok(r.capacity >= 64 * 1024, `capacity ${r.capacity}`);
});

Deno.test("a reader whose reads come back full doubles its buffer up to the burst size", () => {
  const r = new FrameReader(16 * 1024 * 1024);
  const start = r.capacity;
  for (let i = 0; i < 10; i++) {
    const dst = r.space();
    // Fill every read completely without taking frames, as a busy socket would.
    r.commit(dst.length);
    if (r.capacity >= 1024 * 1024) break;
  }
  assert.ok(r.capacity > start);
  assert.ok(r.capacity <= 16 * 1024 * 1024 + 4);
});

Deno.test("a length prefix alone does not make the reader allocate the whole frame", () => {
  const r = new FrameReader(16 * 1024 * 1024);
  const before = r.capacity;
  assert.deepEqual(r.push(new Uint8Array([0x00, 0xff, 0xff, 0xff, 1, 2, 3])), []);
  assert.equal(r.capacity, before, "grows only as bytes arrive");
});
