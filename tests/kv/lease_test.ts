import assert from "node:assert/strict";
import { Encoder } from "cbor-x";
import { KvStore } from "../../src/kv/store.ts";
import {
  leaseIdOf,
  MAX_KEYS_PER_LEASE,
  MAX_LEASE_TTL_MS,
  MAX_LEASES,
} from "../../src/kv/leases.ts";
import type { ApplyResult, KvCommand, LeaseInfo, WatchEvent } from "../../src/kv/types.ts";
import {
  bytes,
  collect,
  delCmd,
  Driver,
  dump,
  entry,
  putCmd,
  replay,
  T0,
  text,
} from "./helpers.ts";

const grant = (ttlMs: number): KvCommand => ({ op: "leaseGrant", ttlMs });
const keepalive = (...ids: string[]): KvCommand => ({ op: "leaseKeepalive", ids });
const revoke = (id: string): KvCommand => ({ op: "leaseRevoke", id });
const expire: KvCommand = { op: "expire" };
const leasePut = (key: string, lease: string): KvCommand => putCmd(key, `v-${key}`, { lease });

function granted(result: ApplyResult): LeaseInfo {
  assert.ok(result.ok && result.value !== null && "lease" in result.value, JSON.stringify(result));
  return result.value.lease;
}

Deno.test("grant assigns ids from a counter: 1, 2, 3 in hex, deadline = entry clock + ttl", () => {
  const d = new Driver();
  assert.deepEqual(granted(d.run(grant(3000))), { id: "1", ttlMs: 3000, deadlineMs: T0 + 3000 });
  assert.equal(granted(d.run(grant(3000), { nowMs: T0 + 5 })).id, "2");
  for (let i = 3; i <= 16; i++) granted(d.run(grant(3000)));
  assert.equal(granted(d.run(grant(3000))).id, "11"); // 17 in hex
  assert.equal(d.store.leaseCount, 17);
  assert.equal(d.store.revision, 0, "grants change no key, so no revision");
});

Deno.test("keepalive renews to the keepalive entry's clock + ttl; gone or past-due leases get null", () => {
  const d = new Driver();
  const a = granted(d.run(grant(3000)));
  const b = granted(d.run(grant(10_000)));
  const result = d.run(keepalive(a.id, b.id, "ff"), { nowMs: T0 + 2000 });
  assert.deepEqual(result, {
    ok: true,
    value: {
      renewed: [
        { id: a.id, ttlMs: 3000, deadlineMs: T0 + 5000 },
        { id: b.id, ttlMs: 10_000, deadlineMs: T0 + 12_000 },
        null,
      ],
    },
  });
  // An entry whose clock passed a's deadline: a is dead for keepalives even before the
  // leader's expire entry removes it.
  const late = d.run(keepalive(a.id), { nowMs: T0 + 5000 });
  assert.deepEqual(late, { ok: true, value: { renewed: [null] } });
  assert.equal(d.store.lease(a.id)?.lease.deadlineMs, T0 + 5000);
});

Deno.test("expiry happens only through an expire entry, by the entry's (leader) clock", () => {
  const d = new Driver();
  const a = granted(d.run(grant(3000)));
  d.run(leasePut("k1", a.id));
  d.run(leasePut("k2", a.id));
  // Time passing on no clock but the entries' changes nothing.
  assert.equal(d.store.nextExpiryMs(), T0 + 3000);
  d.run(expire, { nowMs: T0 + 2999 });
  assert.ok(d.store.lease(a.id) !== null, "not before the deadline");
  assert.equal(d.store.size, 2);
  const events: WatchEvent[] = [];
  d.store.subscribe((batch) => events.push(...batch));
  const revisionBefore = d.store.revision;
  d.run(expire, { nowMs: T0 + 3000 });
  assert.equal(d.store.lease(a.id), null);
  assert.equal(d.store.size, 0);
  assert.deepEqual(events.map((e) => [e.type, e.key, e.revision]), [
    ["delete", "k1", revisionBefore + 1],
    ["delete", "k2", revisionBefore + 1],
  ]);
  assert.equal(d.store.nextExpiryMs(), null);
});

Deno.test("revoke deletes every attached key at one revision; watchers see each delete", () => {
  const d = new Driver();
  const a = granted(d.run(grant(60_000)));
  const b = granted(d.run(grant(60_000)));
  for (const k of ["x", "y", "z"]) d.run(leasePut(k, a.id));
  d.run(leasePut("other", b.id));
  d.run(putCmd("plain", "1"));
  const events: WatchEvent[] = [];
  d.store.subscribe((batch) => events.push(...batch));
  const rev = d.store.revision;
  assert.deepEqual(d.run(revoke(a.id)), {
    ok: true,
    value: { id: a.id, revoked: true, deleted: 3, revision: rev + 1 },
  });
  assert.deepEqual(events.map((e) => `${e.type}:${e.key}@${e.revision}`), [
    `delete:x@${rev + 1}`,
    `delete:y@${rev + 1}`,
    `delete:z@${rev + 1}`,
  ]);
  assert.deepEqual(dump(d.store).map((kv) => kv.key), ["other", "plain"]);
  const again = d.run(revoke(a.id));
  assert.equal(again.ok, false);
  assert.equal(!again.ok && again.code, "lease_not_found");
  // A lease without keys: revoked without a revision.
  const c = granted(d.run(grant(60_000)));
  const r = d.run(revoke(c.id));
  assert.ok(r.ok && r.value !== null && "revoked" in r.value && r.value.revision === rev + 1);
});

Deno.test("a put with a lease attaches; a put without detaches; a delete detaches", () => {
  const d = new Driver();
  const a = granted(d.run(grant(60_000)));
  d.run(leasePut("k", a.id));
  assert.equal(d.store.get("k")?.lease, a.id);
  assert.deepEqual(d.store.lease(a.id)?.keys, ["k"]);
  d.run(putCmd("k", "plain"));
  assert.equal(d.store.get("k")?.lease, null);
  assert.deepEqual(d.store.lease(a.id)?.keys, []);
  d.run(leasePut("k", a.id));
  d.run(delCmd("k"));
  assert.deepEqual(d.store.lease(a.id)?.keys, []);
  // Moving a key between leases.
  const b = granted(d.run(grant(60_000)));
  d.run(leasePut("m", a.id));
  d.run(leasePut("m", b.id));
  assert.deepEqual(d.store.lease(a.id)?.keys, []);
  assert.deepEqual(d.store.lease(b.id)?.keys, ["m"]);
  d.run(revoke(a.id));
  assert.equal(text(d.store.get("m")), "v-m", "revoking the old lease leaves a moved key alone");
});

Deno.test("a put naming an unknown, revoked or past-due lease is refused and writes nothing", () => {
  const d = new Driver();
  const unknown = d.run(leasePut("k", "abc"));
  assert.equal(!unknown.ok && unknown.code, "lease_not_found");
  const a = granted(d.run(grant(3000)));
  const late = d.run(leasePut("k", a.id), { nowMs: T0 + 3000 });
  assert.equal(!late.ok && late.code, "lease_not_found");
  assert.equal(d.store.size, 0);
  assert.equal(d.store.revision, 0);
});

Deno.test("limits: ttl range and ttl+lease are refused as entries, keys per lease as results", () => {
  const d = new Driver();
  for (const ttlMs of [0, 99, MAX_LEASE_TTL_MS + 1, 1.5]) {
    assert.throws(() => entry(grant(ttlMs)), /lease TTL|malformed/);
  }
  const a = granted(d.run(grant(60_000)));
  assert.throws(() => entry(putCmd("k", "v", { ttlMs: 1000, lease: a.id })), /not both/);
  for (let i = 0; i < MAX_KEYS_PER_LEASE; i++) d.run(leasePut(`k${i}`, a.id));
  const over = d.run(leasePut("one-more", a.id));
  assert.equal(!over.ok && over.code, "bad_request");
  assert.match(!over.ok ? over.message : "", /at most 10000 keys/);
  // Re-putting an attached key is no new attachment.
  assert.equal(d.run(leasePut("k0", a.id)).ok, true);
  // In a transaction the refusal names the (first) put attaching to the full lease.
  const inTxn = d.run({
    op: "txn",
    txn: {
      compare: [{ key: "nope", target: "version", op: ">", value: 0 }],
      success: [],
      failure: [
        { op: "put", key: "k1", value: bytes("v"), lease: a.id },
        { op: "get", key: "k1" },
        { op: "put", key: "two-more", value: bytes("v"), lease: a.id },
      ],
    },
  });
  assert.equal(!inTxn.ok && inTxn.code, "bad_request");
  assert.match(
    !inTxn.ok ? inTxn.message : "",
    /^failure\[0\]\.put\.lease: lease 1 may hold at most 10000 keys/,
  );
  assert.equal(d.store.get("two-more"), null);
});

Deno.test("leases() pages in id order with a cursor; lease() shows keys", () => {
  const d = new Driver();
  for (let i = 0; i < 5; i++) d.run(grant(60_000));
  const first = d.store.leases(null, 2);
  assert.deepEqual(first.items.map((l) => l.id), ["1", "2"]);
  assert.equal(first.more, true);
  const rest = d.store.leases("2", 10);
  assert.deepEqual(rest.items.map((l) => l.id), ["3", "4", "5"]);
  assert.equal(rest.more, false);
  assert.throws(() => d.store.leases("xyz", 1), /lease id/);
  assert.equal(d.store.lease("99"), null);
});

Deno.test("snapshot round-trip keeps leases, deadlines, attachments and the id counter", async () => {
  const d = new Driver();
  const a = granted(d.run(grant(60_000)));
  const b = granted(d.run(grant(5_000)));
  granted(d.run(grant(5_000)));
  d.run(revoke("3"));
  d.run(leasePut("a1", a.id));
  d.run(leasePut("b1", b.id));
  d.run(putCmd("plain", "p", { ttlMs: 1000 }));
  const restored = await KvStore.restore(replay(await collect(d.store.snapshot().chunks)));
  assert.deepEqual(dump(restored), dump(d.store));
  assert.deepEqual(restored.leases(null, 100), d.store.leases(null, 100));
  assert.deepEqual(restored.lease(a.id), d.store.lease(a.id));
  assert.equal(restored.nextExpiryMs(), d.store.nextExpiryMs());
  // The counter continues: the next grant is 4 on both.
  const copy = new Driver(restored);
  assert.equal(granted(copy.run(grant(5000))).id, "4");
  assert.equal(granted(d.run(grant(5000))).id, "4");
  // Revoking on the restored copy deletes its attached key as on the original.
  copy.run(revoke(b.id));
  d.run(revoke(b.id));
  assert.deepEqual(dump(restored), dump(d.store));
});

Deno.test("a format 1 snapshot (written before leases) still restores", async () => {
  const cbor = new Encoder({ useRecords: false, tagUint8Array: false, mapsAsObjects: true });
  const value = new TextEncoder().encode("v");
  const chunks = [
    [1, "header", 7, 2, T0, 2, 0],
    ["keys", [["a", value, 1, 1, 1, null], ["b", value, 2, 2, 1, T0 + 10]]],
    ["end", 2, 0],
  ].map((c) => new Uint8Array(cbor.encode(c)));
  const store = await KvStore.restore(replay(chunks));
  assert.equal(store.size, 2);
  assert.equal(store.get("a")?.lease, null);
  assert.equal(store.leaseCount, 0);
  assert.equal(store.nextExpiryMs(), T0 + 10);
});

Deno.test("replicas fed the same entries (one restored midway) agree on state and events", async () => {
  const log: Uint8Array[] = [];
  let now = T0;
  const add = (c: KvCommand, dt = 100) => log.push(entry(c, { nowMs: now += dt }));
  for (let i = 0; i < 20; i++) add(grant(10_000 + 2000 * (i % 5)));
  for (let i = 0; i < 60; i++) add(leasePut(`k${i % 30}`, ((i % 20) + 1).toString(16)));
  for (let i = 0; i < 10; i++) add(keepalive(...["1", "2", "3", "4", "5"]));
  add(revoke("7"));
  add(expire, 2000);
  add(expire, 3000);
  const a = new Driver();
  const b = new Driver();
  const eventsA: WatchEvent[] = [];
  const eventsB: WatchEvent[] = [];
  a.store.subscribe((e) => eventsA.push(...e));
  b.store.subscribe((e) => eventsB.push(...e));
  const half = Math.floor(log.length / 2);
  for (const data of log.slice(0, half)) a.raw(data);
  for (const data of log.slice(0, half)) b.raw(data);
  const c = new Driver(await KvStore.restore(replay(await collect(b.store.snapshot().chunks))));
  const eventsC: WatchEvent[] = [];
  c.store.subscribe((e) => eventsC.push(...e));
  for (const data of log.slice(half)) {
    a.raw(data);
    c.raw(data);
  }
  assert.deepEqual(dump(c.store), dump(a.store));
  assert.deepEqual(c.store.leases(null, 100), a.store.leases(null, 100));
  assert.deepEqual(eventsC, eventsA.slice(eventsB.length));
  assert.ok(eventsA.some((e) => e.type === "delete"), "the log expired and revoked keys");
});

Deno.test("a lease's keys come in pages: after a key, at most limit, in key order, with more", () => {
  const d = new Driver();
  const a = granted(d.run(grant(60_000)));
  for (const key of ["b", "a", "c/1", "c/0", "é"]) d.run(leasePut(key, a.id));
  assert.deepEqual(d.store.lease(a.id)?.keys, ["a", "b", "c/0", "c/1", "é"], "all by default");
  assert.deepEqual(d.store.lease(a.id, null, 2), {
    lease: d.store.lease(a.id)!.lease,
    keys: ["a", "b"],
    more: true,
  });
  assert.deepEqual(d.store.lease(a.id, "b", 2)?.keys, ["c/0", "c/1"]);
  assert.equal(d.store.lease(a.id, "b", 2)?.more, true);
  assert.deepEqual(d.store.lease(a.id, "c/1", 2)?.keys, ["é"]);
  assert.equal(d.store.lease(a.id, "c/1", 2)?.more, false);
  assert.deepEqual(d.store.lease(a.id, "é", 2)?.keys, []);
  for (const limit of [0, 1.5, MAX_KEYS_PER_LEASE + 1]) {
    assert.throws(() => d.store.lease(a.id, null, limit), /limit must be an integer/);
  }
});

Deno.test("at most MAX_LEASES leases exist: one more grant is a 400 and grants nothing, until one goes", () => {
  const d = new Driver();
  for (let i = 0; i < MAX_LEASES; i++) assert.ok(d.run(grant(60_000)).ok);
  const over = d.run(grant(60_000));
  assert.equal(!over.ok && over.code, "bad_request");
  assert.match(!over.ok ? over.message : "", /at most 100000 leases may exist/);
  assert.equal(d.store.leases(null, 1).items[0]?.id, "1");
  assert.equal(d.store.lease(leaseIdOf(MAX_LEASES + 1)), null, "no lease granted past the limit");
  assert.ok(d.run(revoke("1")).ok);
  assert.equal(granted(d.run(grant(60_000))).id, leaseIdOf(MAX_LEASES + 1), "the counter moved on");
});
