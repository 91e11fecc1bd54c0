import assert from "node:assert/strict";
import { type LinkProfile, Network, RELIABLE_LINK } from "./network.ts";
import { Prng } from "./prng.ts";

function drain(net: Network<number>): { to: string; payload: number; kind: string }[] {
  const out = [];
  for (let a = net.pop(); a !== undefined; a = net.pop()) {
    out.push({ to: a.packet.to, payload: a.packet.payload, kind: a.kind });
  }
  return out;
}

Deno.test("network delivers in send order on a reliable link", () => {
  const net = new Network<number>(new Prng(1), RELIABLE_LINK);
  for (let i = 0; i < 5; i++) assert.equal(net.send("a", "b", i, 0), "queued");
  assert.deepEqual(drain(net).map((d) => d.payload), [0, 1, 2, 3, 4]);
});

Deno.test("network reorders packets when delays vary", () => {
  const jittery: LinkProfile = { ...RELIABLE_LINK, minDelayMs: 1, maxDelayMs: 50, fifo: false };
  const net = new Network<number>(new Prng(2), jittery);
  for (let i = 0; i < 50; i++) net.send("a", "b", i, i);
  const order = drain(net).map((d) => d.payload);
  assert.equal(order.length, 50);
  assert.notDeepEqual(order, [...order].sort((x, y) => x - y));
});

Deno.test("a fifo link keeps send order whatever the delays", () => {
  const net = new Network<number>(new Prng(2), { ...RELIABLE_LINK, maxDelayMs: 50 });
  for (let i = 0; i < 50; i++) net.send("a", "b", i, i);
  const order = drain(net).map((d) => d.payload);
  assert.deepEqual(order, [...order].sort((x, y) => x - y));
});

Deno.test("network drops and duplicates at roughly the configured rates", () => {
  const lossy: LinkProfile = { ...RELIABLE_LINK, dropRate: 0.3, duplicateRate: 0.2 };
  const net = new Network<number>(new Prng(3), lossy);
  let lost = 0;
  for (let i = 0; i < 2000; i++) if (net.send("a", "b", i, 0) === "lost") lost++;
  const delivered = drain(net).length;
  assert.ok(lost > 450 && lost < 750, `lost ${lost}`);
  assert.ok(delivered > (2000 - lost) * 1.1, `delivered ${delivered}`);
});

Deno.test("symmetric partition cuts both directions until healed", () => {
  const net = new Network<number>(new Prng(4), RELIABLE_LINK);
  net.partition(["a"], ["b", "c"]);
  assert.equal(net.send("a", "b", 1, 0), "cut");
  assert.equal(net.send("c", "a", 2, 0), "cut");
  assert.equal(net.send("b", "c", 3, 0), "queued");
  net.heal();
  assert.equal(net.send("a", "b", 4, 0), "queued");
  assert.deepEqual(drain(net).map((d) => d.payload), [3, 4]);
});

Deno.test("one-way partition cuts only one direction", () => {
  const net = new Network<number>(new Prng(5), RELIABLE_LINK);
  net.blockOneWay("a", "b");
  assert.equal(net.send("a", "b", 1, 0), "cut");
  assert.equal(net.send("b", "a", 2, 0), "queued");
});

Deno.test("bridge partition lets only the bridge talk to both sides", () => {
  const net = new Network<number>(new Prng(6), RELIABLE_LINK);
  net.bridge(["a", "m"], ["b", "m"], "m");
  assert.ok(net.isBlocked("a", "b") && net.isBlocked("b", "a"));
  assert.ok(!net.isBlocked("a", "m") && !net.isBlocked("m", "b"));
});

Deno.test("a packet in flight when its link is cut is dropped on arrival", () => {
  const net = new Network<number>(new Prng(7), RELIABLE_LINK);
  net.send("a", "b", 1, 0);
  net.partition(["a"], ["b"]);
  assert.deepEqual(drain(net).map((d) => d.kind), ["dropped"]);
});

Deno.test("dropInvolving removes every packet to or from a node", () => {
  const net = new Network<number>(new Prng(8), RELIABLE_LINK);
  net.send("a", "b", 1, 0);
  net.send("b", "c", 2, 0);
  net.send("c", "a", 3, 0);
  assert.equal(net.dropInvolving("a").length, 2);
  assert.deepEqual(drain(net).map((d) => d.payload), [2]);
});
