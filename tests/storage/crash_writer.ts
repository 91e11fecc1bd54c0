/**
 * Child process for crash_test.ts. Appends batches to the storage in `dir` forever
 * (fsync "always"), sometimes overwriting a suffix in a new term, sometimes
 * installing a "received" snapshot ahead of the log, and every `SNAPSHOT_EVERY`
 * entries takes a local snapshot and compacts. Protocol on stdout:
 *
 *   ready <lastIndex>
 *   save <seq> <firstIndex> <lastIndex> <term>   (printed before save() is called)
 *   install <seq> <index> <term>                 (printed before applySnapshot())
 *   ack <seq>                                    (printed once that op is durable)
 *
 * The parent kills it with SIGKILL at a random moment and checks the recovered log.
 *
 * Usage: deno run -A tests/storage/crash_writer.ts <dir> <seed>
 */

import { openStorage } from "../../src/storage/raft_storage.ts";
import { makeEntries, prng } from "./helpers.ts";

const SNAPSHOT_EVERY = 400;
const CONCURRENT_SAVES = 4;
const OVERWRITE_PROBABILITY = 0.1;
const MAX_OVERWRITE_DEPTH = 30;
const INSTALL_PROBABILITY = 0.01;

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

let term = Math.max(1, storage.initialState().hardState.term);
let next = storage.lastIndex() + 1;
let lastSnapshot = storage.snapshotMeta().index;
let seq = 0;
const inflight: Promise<void>[] = [];
while (true) {
  if (rand() < INSTALL_PROBABILITY) {
    // A leader sends a snapshot beyond our log: store it, then restart the log after it.
    await Promise.all(inflight.splice(0));
    term++;
    const meta = { index: next + 5 + Math.floor(rand() * 20), term, conf };
    await storage.writeSnapshot(
      meta,
      (async function* () {
        yield encoder.encode(`received ${meta.index}`);
      })(),
    );
    const mySeq = seq++;
    print(`install ${mySeq} ${meta.index} ${meta.term}`);
    await storage.applySnapshot(meta);
    print(`ack ${mySeq}`);
    next = meta.index + 1;
    lastSnapshot = meta.index;
    continue;
  }
  let first = next;
  if (rand() < OVERWRITE_PROBABILITY) {
    // A new leader's entries replace an uncommitted suffix (never below the snapshot).
    term++;
    first = Math.max(lastSnapshot + 1, next - 1 - Math.floor(rand() * MAX_OVERWRITE_DEPTH));
  }
  const last = first + Math.floor(rand() * 20);
  const entries = makeEntries(first, last, term, Math.floor(rand() * 300));
  next = last + 1;
  const mySeq = seq++;
  print(`save ${mySeq} ${first} ${last} ${term}`);
  const hardState = { term, vote: "n1", commit: lastSnapshot };
  inflight.push(storage.save(hardState, entries).then(() => print(`ack ${mySeq}`)));
  if (inflight.length >= CONCURRENT_SAVES) await inflight.shift();
  const durable = storage.lastIndex();
  if (durable - lastSnapshot >= SNAPSHOT_EVERY) {
    await Promise.all(inflight.splice(0)); // nothing in flight may overwrite below it
    lastSnapshot = storage.lastIndex();
    const bytes = encoder.encode(`state at ${lastSnapshot}`);
    await storage.writeSnapshot(
      { index: lastSnapshot, term: storage.term(lastSnapshot) ?? term, conf },
      (async function* () {
        yield bytes;
      })(),
    );
    await storage.compact(lastSnapshot);
  }
}
