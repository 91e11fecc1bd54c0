import assert from "node:assert/strict";
import { KvStore } from "../../src/kv/store.ts";
import type { KvCommand, WatchEvent } from "../../src/kv/types.ts";
import { collect, dump, entry, prng, putCmd, replay, T0 } from "./helpers.ts";

const STREAM_LENGTH = 20_000;

/** A seeded stream of entries mixing every command, retries, no-ops, garbage and clock skew. */
function commandStream(seed: number): Uint8Array[] {
  const random = prng(seed);
  const pick = (n: number) => Math.floor(random() * n);
  const key = () => `${"abc"[pick(3)]}/${pick(300)}`;
  const out: Uint8Array[] = [];
  let nowMs = T0;
  for (let i = 0; i < STREAM_LENGTH; i++) {
    nowMs += pick(50) - 5; // the leader clock mostly advances, sometimes steps back
    const roll = random();
    if (roll < 0.01) {
      out.push(new Uint8Array()); // leader no-op
      continue;
    }
    if (roll < 0.015) {
      out.push(new Uint8Array([pick(256), pick(256), pick(256)])); // garbage
      continue;
    }
    let command: KvCommand;
    if (roll < 0.6) {
      command = putCmd(key(), `v${i}`, {
        ...(random() < 0.3 ? { ttlMs: 1 + pick(2_000) } : {}),
        ...(random() < 0.2 ? { ifModRevision: pick(i + 1) } : {}),
        ...(random() < 0.05 ? { createOnly: true } : {}),
      });
    } else if (roll < 0.85) {
      command = { op: "delete", key: key(), ifModRevision: random() < 0.3 ? pick(i + 1) : null };
    } else if (roll < 0.87) {
      command = { op: "deletePrefix", prefix: `${"abc"[pick(3)]}/${pick(10)}` };
    } else {
      command = { op: "expire" };
    }
    const idempotencyKey = random() < 0.2 ? `req-${pick(2_000)}` : undefined;
    out.push(
      entry(command, { nowMs, ...(idempotencyKey === undefined ? {} : { idempotencyKey }) }),
    );
  }
  return out;
}

function seedFromEnv(): number {
  const fromEnv = Deno.env.get("KV_SEED");
  return fromEnv === undefined ? Date.now() % 2 ** 31 : Number(fromEnv);
}

Deno.test("two stores fed the same seeded command stream end identical", async () => {
  const seed = seedFromEnv();
  console.log(`determinism seed ${seed} (rerun with KV_SEED=${seed})`);
  const stream = commandStream(seed);
  const options = { dedupEntries: 500, dedupTtlMs: 20_000, watchHistory: 1_000 };
  const a = new KvStore(options);
  const b = new KvStore(options);
  const eventsA: WatchEvent[] = [];
  a.subscribe((events) => eventsA.push(...events));
  const middle = Math.floor(stream.length / 2);
  let c: KvStore | null = null;
  let index = 0;
  for (const [i, data] of stream.entries()) {
    index += 1 + (i % 17 === 0 ? 1 : 0); // gaps, as config entries leave in the log
    const ra = a.apply(index, data);
    const rb = b.apply(index, data);
    assert.deepEqual(ra, rb, `seed ${seed}: entry ${i} diverged`);
    if (c !== null) assert.deepEqual(c.apply(index, data), ra, `seed ${seed}: restored diverged`);
    if (i === middle) {
      c = await KvStore.restore(replay(await collect(a.snapshot().chunks)), options);
    }
  }
  assert.ok(c !== null);
  for (const store of [b, c]) {
    assert.deepEqual(dump(store), dump(a), `seed ${seed}`);
    assert.equal(store.revision, a.revision);
    assert.equal(store.clockMs, a.clockMs);
    assert.equal(store.nextExpiryMs(), a.nextExpiryMs());
    assert.equal(store.dedupSize, a.dedupSize);
  }
  const fromRevision = b.compactedRevision + 1;
  assert.deepEqual(b.eventsSince(fromRevision, ""), a.eventsSince(fromRevision, ""));
  assert.deepEqual(
    eventsA.filter((e) => e.revision >= fromRevision),
    a.eventsSince(fromRevision, ""),
    "subscribers saw what the ring holds",
  );
  assert.ok(a.revision > STREAM_LENGTH / 4, `seed ${seed}: the stream changed things`);
});
