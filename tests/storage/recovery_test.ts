import assert from "node:assert/strict";
import { join } from "node:path";
import { openStorage, StorageCorruptionError } from "../../src/storage/raft_storage.ts";
import { RECORD_HEADER_BYTES } from "../../src/storage/record.ts";
import { hashDir, makeEntries, segmentFiles, withTempDir } from "./helpers.ts";

const SMALL = { segmentBytes: 4096, fsync: "never" } as const;

/** Writes entries 1..n in batches of `batch`, with a hard state after each. */
async function fill(dir: string, n: number, batch: number): Promise<void> {
  const s = await openStorage(dir, SMALL);
  for (let i = 1; i <= n; i += batch) {
    const last = Math.min(n, i + batch - 1);
    await s.save({ term: 1, vote: "n1", commit: last }, makeEntries(i, last, 1));
  }
  await s.close();
}

async function expectCorruption(dir: string, pattern: RegExp): Promise<void> {
  const before = await hashDir(dir);
  await assert.rejects(
    () => openStorage(dir, SMALL),
    (e: unknown) => {
      assert(e instanceof StorageCorruptionError, String(e));
      assert.match(e.message, pattern);
      assert.match(e.message, /byte offset \d+/);
      assert.match(e.message, /log index \d+/);
      assert.match(e.message, /wipe this node's data directory and re-add the node/);
      return true;
    },
  );
  assert.deepEqual(await hashDir(dir), before, "a refused open must not modify any file");
}

/**
 * One segment holding entries 1..5 with their hard state, then a final record of
 * entries 6..8 (no hard state follows it); `start` is where that last record begins.
 */
async function fillOneSegment(
  dir: string,
): Promise<{ path: string; whole: Uint8Array; start: number }> {
  const s = await openStorage(dir, { fsync: "never" });
  await s.save({ term: 1, vote: null, commit: 5 }, makeEntries(1, 5, 1));
  await s.save(null, makeEntries(6, 8, 1));
  await s.close();
  const [name] = await segmentFiles(dir);
  assert(name !== undefined);
  const path = join(dir, name);
  const whole = await Deno.readFile(path);
  return { path, whole, start: whole.length - RECORD_HEADER_BYTES - recordLengthAtEnd(whole) };
}

Deno.test("a torn last record is dropped at every byte offset, keeping every whole record", async () => {
  await withTempDir(async (dir) => {
    const { path, whole, start } = await fillOneSegment(dir);
    for (let cut = start; cut < whole.length; cut++) {
      await Deno.writeFile(path, whole.subarray(0, cut));
      const r = await openStorage(dir, { fsync: "never" });
      assert.equal(r.lastIndex(), 5, `cut at ${cut}`);
      assert.equal(r.initialState().hardState.commit, 5);
      assert.deepEqual(r.entries(1, 6, Infinity).map((e) => e.index), [1, 2, 3, 4, 5]);
      await r.close();
      assert.equal((await Deno.stat(path)).size, start, "the torn tail is truncated away");
    }
  });
});

/** Payload length of the last record: scan the record chain from the start. */
function recordLengthAtEnd(buf: Uint8Array): number {
  const view = new DataView(buf.buffer, buf.byteOffset);
  let off = 0;
  let last = 0;
  while (off < buf.length) {
    last = view.getUint32(off, true);
    off += RECORD_HEADER_BYTES + last;
  }
  return last;
}

Deno.test("a flipped byte mid-segment refuses to open and changes nothing", async () => {
  await withTempDir(async (dir) => {
    await fill(dir, 200, 10);
    const segs = await segmentFiles(dir);
    assert(segs.length >= 3, `expected several segments, got ${segs.length}`);
    const path = join(dir, segs[0] as string);
    const bytes = await Deno.readFile(path);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x40;
    await Deno.writeFile(path, bytes);
    await expectCorruption(dir, new RegExp(`${segs[0]}.*CRC-32C`));
  });
});

Deno.test("a flipped byte in the last segment before its final record refuses to open", async () => {
  await withTempDir(async (dir) => {
    await fill(dir, 200, 10);
    const segs = await segmentFiles(dir);
    const path = join(dir, segs[segs.length - 1] as string);
    const bytes = await Deno.readFile(path);
    bytes[RECORD_HEADER_BYTES + 2]! ^= 0x01; // inside the first record
    await Deno.writeFile(path, bytes);
    await expectCorruption(dir, /CRC-32C/);
  });
});

Deno.test("a missing middle segment refuses to open naming the gap", async () => {
  await withTempDir(async (dir) => {
    await fill(dir, 200, 10);
    const segs = await segmentFiles(dir);
    await Deno.remove(join(dir, segs[1] as string));
    await expectCorruption(dir, new RegExp(`${segs[2]}.*segment is missing`));
  });
});

Deno.test("an index gap inside a segment refuses to open", async () => {
  await withTempDir(async (dir) => {
    const s = await openStorage(dir, { fsync: "never" });
    await s.save(null, makeEntries(1, 5, 1));
    await s.save(null, makeEntries(6, 10, 1));
    await s.save(null, makeEntries(11, 15, 1));
    await s.close();
    const [name] = await segmentFiles(dir);
    const path = join(dir, name as string);
    const bytes = await Deno.readFile(path);
    // Cut the middle record out: records 1 and 3 remain, 6..10 is a gap.
    const view = new DataView(bytes.buffer);
    const first = RECORD_HEADER_BYTES + view.getUint32(0, true);
    const second = RECORD_HEADER_BYTES + view.getUint32(first, true);
    const spliced = new Uint8Array(bytes.length - second);
    spliced.set(bytes.subarray(0, first));
    spliced.set(bytes.subarray(first + second), first);
    await Deno.writeFile(path, spliced);
    await expectCorruption(dir, /index gap: batch starts at 11 after 5/);
  });
});

Deno.test("a log that starts after index 1 with no snapshot refuses to open", async () => {
  await withTempDir(async (dir) => {
    await fill(dir, 200, 10);
    const segs = await segmentFiles(dir);
    await Deno.remove(join(dir, segs[0] as string));
    await expectCorruption(dir, /no snapshot covers the log before index \d+/);
  });
});

Deno.test("a final record that fails its CRC right up to end of file is a torn write and is dropped", async () => {
  await withTempDir(async (dir) => {
    const s = await openStorage(dir, { fsync: "never" });
    await s.save(null, makeEntries(1, 5, 1));
    await s.save(null, makeEntries(6, 8, 1));
    await s.close();
    const [name] = await segmentFiles(dir);
    const path = join(dir, name as string);
    const bytes = await Deno.readFile(path);
    bytes[bytes.length - 3]! ^= 0xff; // sectors of the last write landed out of order
    await Deno.writeFile(path, bytes);
    const r = await openStorage(dir, { fsync: "never" });
    assert.equal(r.lastIndex(), 5);
    await r.close();
  });
});

Deno.test("zeroed bytes after the last whole record are dropped as a torn tail", async () => {
  await withTempDir(async (dir) => {
    const s = await openStorage(dir, { fsync: "never" });
    await s.save(null, makeEntries(1, 5, 1));
    await s.close();
    const [name] = await segmentFiles(dir);
    const path = join(dir, name as string);
    const bytes = await Deno.readFile(path);
    const padded = new Uint8Array(bytes.length + 4096);
    padded.set(bytes);
    await Deno.writeFile(path, padded);
    const r = await openStorage(dir, { fsync: "never" });
    assert.equal(r.lastIndex(), 5);
    await r.save(null, makeEntries(6, 6, 1));
    await r.close();
    const again = await openStorage(dir, { fsync: "never" });
    assert.equal(again.lastIndex(), 6, "appends continue after the dropped zeros");
    await again.close();
  });
});

Deno.test("preallocated zeros end a segment's records, in the newest segment and before it", async () => {
  await withTempDir(async (dir) => {
    const s = await openStorage(dir, { segmentBytes: 4096, fsync: "always" });
    for (let i = 1; i <= 200; i += 10) {
      await s.save({ term: 1, vote: "n1", commit: i + 9 }, makeEntries(i, i + 9, 1));
    }
    // Unclosed: the newest segment still carries its preallocated zeros.
    const names = await segmentFiles(dir);
    assert(names.length >= 3, `expected several segments, got ${names.length}`);
    const newest = join(dir, names[names.length - 1]!);
    const logical = s.stats().bytesWritten;
    assert(logical > 0);
    const newestBytes = await Deno.readFile(newest);
    assert.equal(newestBytes.at(-1), 0, "the newest segment ends in preallocated zeros");
    // A crash between rolling to a new segment and trimming the old one leaves zeros
    // behind in an older segment too.
    const middle = join(dir, names[1]!);
    const zeros = new Uint8Array(1000);
    await Deno.writeFile(middle, zeros, { append: true });
    const r = await openStorage(dir, { segmentBytes: 4096, fsync: "always" });
    assert.equal(r.lastIndex(), 200);
    assert.deepEqual(
      r.entries(1, 201, Infinity).map((e) => e.index),
      Array.from({ length: 200 }, (_, k) => k + 1),
    );
    assert.notEqual((await Deno.readFile(newest)).at(-1), 0, "the zero tail was cut off");
    await r.save(null, makeEntries(201, 210, 1));
    await r.close();
    const again = await openStorage(dir, { segmentBytes: 4096, fsync: "never" });
    assert.equal(again.lastIndex(), 210);
    await again.close();
    await s.close().catch(() => {});
  });
});

Deno.test("a torn record followed by preallocated zeros is cut off", async () => {
  await withTempDir(async (dir) => {
    const { path, whole, start } = await fillOneSegment(dir);
    const lastRecordBytes = whole.length - start;
    // Half of the last record reached the disk, inside space preallocated as zeros.
    const torn = new Uint8Array(whole.length + 4096);
    torn.set(whole.subarray(0, start + Math.floor(lastRecordBytes / 2)));
    await Deno.writeFile(path, torn);
    const r = await openStorage(dir, { fsync: "never" });
    assert.equal(r.lastIndex(), 5);
    await r.close();
    assert.equal((await Deno.stat(path)).size, start);
  });
});
