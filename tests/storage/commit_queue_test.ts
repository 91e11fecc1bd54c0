import assert from "node:assert/strict";
import { CommitQueue } from "../../src/storage/commit_queue.ts";
import { FatalStorageError } from "../../src/storage/errors.ts";
import { assert as invariant } from "../../src/assert.ts";

Deno.test("commit queue groups saves issued together and keeps call order around exclusive ops", async () => {
  const log: string[] = [];
  const q = new CommitQueue<number>((saves) => {
    log.push(`group ${saves.join(",")}`);
    return Promise.resolve();
  });
  const done = [
    q.save(1),
    q.save(2),
    q.exclusive(() => {
      log.push("op");
      return Promise.resolve();
    }),
    q.save(3),
  ];
  await Promise.all(done);
  assert.deepEqual(log, ["group 1,2", "op", "group 3"]);
});

Deno.test("commit queue stops at the first failure and rejects everything after it", async () => {
  let calls = 0;
  const q = new CommitQueue<number>(() => {
    calls++;
    return Promise.reject(new Error("EIO"));
  });
  const a = q.save(1);
  await assert.rejects(a, FatalStorageError);
  await assert.rejects(q.save(2), FatalStorageError);
  await assert.rejects(q.exclusive(() => Promise.resolve()), FatalStorageError);
  assert.equal(calls, 1, "nothing is retried after a failed fsync");
  assert(q.failure() instanceof FatalStorageError);
});

Deno.test("an invariant failure in an exclusive op rejects only that op", async () => {
  const q = new CommitQueue<number>(() => Promise.resolve());
  await assert.rejects(
    q.exclusive(() => {
      invariant(false, "caller bug");
      return Promise.resolve();
    }),
    /caller bug/,
  );
  await q.save(1);
  assert.equal(q.failure(), null);
});
