/**
 * Child process for crash_test.ts: appends batches to the storage in `dir` forever
 * (fsync "always"), printing `ack <lastIndex>` once each save is durable. Every
 * `SNAPSHOT_EVERY` entries it takes a local snapshot and compacts. The parent kills
 * it with SIGKILL at a random moment and checks every acknowledged entry survived.
 *
 * Usage: deno run -A tests/storage/crash_writer.ts <dir> <seed>
 */

import { openStorage } from "../../src/storage/raft_storage.ts";
import { makeEntries, prng } from "./helpers.ts";

const SNAPSHOT_EVERY = 400;
const CONCURRENT_SAVES = 4;
const [dir, seedArg] = Deno.args;
if (dir === undefined || seedArg === undefined) throw new Error("usage: <dir> <seed>");
const rand = prng(Number(seedArg));
const conf = { voters: ["n1"], learners: [] };
const storage = await openStorage(dir, {
  segmentBytes: 16 * 1024,
  trailingEntries: 50,
  fsync: "always",
});
const encoder = new TextEncoder();
const print = (line: string): void => {
  Deno.stdout.writeSync(encoder.encode(line + "\n"));
};
print(`ready ${storage.lastIndex()}`);

let next = storage.lastIndex() + 1;
let lastSnapshot = storage.snapshotMeta().index;
const inflight: Promise<void>[] = [];
while (true) {
  const count = 1 + Math.floor(rand() * 20);
  const size = Math.floor(rand() * 300);
  const entries = makeEntries(next, next + count - 1, 1, size);
  const last = next + count - 1;
  next += count;
  inflight.push(
    storage.save({ term: 1, vote: "n1", commit: last }, entries).then(() => print(`ack ${last}`)),
  );
  if (inflight.length >= CONCURRENT_SAVES) await inflight.shift();
  const durable = storage.lastIndex();
  if (durable - lastSnapshot >= SNAPSHOT_EVERY) {
    lastSnapshot = durable;
    const bytes = encoder.encode(`state at ${durable}`);
    await storage.writeSnapshot(
      { index: durable, term: 1, conf },
      (async function* () {
        yield bytes;
      })(),
    );
    await storage.compact(durable);
  }
}
