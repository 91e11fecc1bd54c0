/**
 * Writes the same Raft data through whichever runtime runs it, for the byte-identity
 * test: WAL segments (several, with a rotation, an overwritten suffix and a
 * snapshot-driven rewrite), a snapshot file, and every peer message type framed as it
 * goes on the wire. Runs under Deno and Bun alike (no runtime globals here):
 *
 *   deno run -A tests/runtime/fixture_writer.ts <dir>
 *   bun run tests/runtime/fixture_writer.ts <dir>
 *
 * @module
 */

import { writeFileSync } from "node:fs";
import process from "node:process";
import { openStorage } from "../../src/storage/raft_storage.ts";
import { encodeMessage } from "../../src/transport/wire.ts";
import { frameOf } from "../../src/transport/frame.ts";
import { makeEntries } from "../storage/helpers.ts";
import { sampleMessages } from "../transport/helpers.ts";

const dir = process.argv[2];
if (dir === undefined) throw new Error("usage: fixture_writer.ts <dir>");

const hs = (term: number, commit: number) => ({ term, vote: "n1", commit });
/** A log over several segments: 400 entries, then a later term overwriting a suffix. */
async function writeLog(path: string) {
  const storage = await openStorage(path, { segmentBytes: 16 * 1024, fsync: "always" });
  for (let i = 1; i <= 400; i += 20) {
    await storage.save(hs(1, i - 1), makeEntries(i, i + 19, 1, 150));
  }
  await storage.save(hs(2, 380), makeEntries(391, 430, 2, 90));
  return storage;
}
await (await writeLog(`${dir}/log`)).close();
// The same log, then a snapshot that replaces it, then more entries.
const storage = await writeLog(`${dir}/data`);
// Term 2 at index 300, where the log holds term 1: a received snapshot, installed by applySnapshot.
const meta = { index: 300, term: 2, conf: { voters: ["n1", "n2", "n3"], learners: [] } };
const chunks = (async function* () {
  for (let k = 0; k < 5; k++) yield makeEntries(k * 10 + 1, k * 10 + 10, 7, 64)[k]!.data;
})();
await storage.writeSnapshot(meta, chunks);
await storage.applySnapshot(meta);
// The snapshot replaced the log: it continues right after the snapshot index.
await storage.save(hs(2, 320), makeEntries(301, 330, 2, 200));
await storage.close();

const frames = sampleMessages("n1", "n2").map((m) => frameOf(encodeMessage(m)));
let total = 0;
for (const f of frames) total += f.length;
const wire = new Uint8Array(total);
let at = 0;
for (const f of frames) {
  wire.set(f, at);
  at += f.length;
}
writeFileSync(`${dir}/peer_frames.bin`, wire);
console.log("fixture written");
