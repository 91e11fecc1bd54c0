/**
 * A small measurement, not a test: two peer transports in one process on loopback,
 * sequential heartbeat round trips and a pipelined burst of appends, to compare the
 * Deno (Deno.connect) and Bun (node:net) socket paths.
 *
 *   deno run -A tests/runtime/transport_speed.ts   |   bun run tests/runtime/transport_speed.ts
 *
 * @module
 */

import { type Entry, type Message, MessageType } from "../../src/raft/messages.ts";
import { runtime } from "../../src/runtime/current.ts";
import { TcpTransport } from "../../src/transport/tcp_transport.ts";

const ROUND_TRIPS = 2000;
const BURST = 20_000;

const a = new TcpTransport({ id: "a", clusterId: "speed", listenAddr: "127.0.0.1:0" });
const b = new TcpTransport({ id: "b", clusterId: "speed", listenAddr: "127.0.0.1:0" });
await a.start();
await b.start();
a.setPeers(new Map([["b", b.listenAddr]]));
b.setPeers(new Map([["a", a.listenAddr]]));
let waiter: (() => void) | null = null;
let received = 0;
b.onMessage = (m) => {
  if (m.type === MessageType.Heartbeat) {
    b.send({ type: MessageType.HeartbeatResponse, from: "b", to: "a", term: 1, context: 0 });
  } else received++;
  if (received === BURST) waiter?.();
};
a.onMessage = () => waiter?.();
const roundTrip = () =>
  new Promise<void>((resolve) => {
    waiter = resolve;
    a.send({ type: MessageType.Heartbeat, from: "a", to: "b", term: 1, commit: 0, context: 0 });
  });
for (let i = 0; i < 200; i++) await roundTrip(); // connect and warm up
let t = performance.now();
for (let i = 0; i < ROUND_TRIPS; i++) await roundTrip();
const rttUs = ((performance.now() - t) * 1000) / ROUND_TRIPS;
const entry: Entry = { term: 1, index: 1, type: 0, data: new Uint8Array(100) };
const append = (i: number): Message => ({
  type: MessageType.Append,
  from: "a",
  to: "b",
  term: 1,
  prevIndex: i,
  prevTerm: 1,
  commit: i,
  entries: [{ ...entry, index: i + 1 }],
});
t = performance.now();
const done = new Promise<void>((resolve) => waiter = resolve);
for (let i = 0; i < BURST; i++) {
  a.send(append(i));
  if (i % 500 === 499) await new Promise((r) => setTimeout(r, 0)); // let the queue drain
}
await done;
const perSec = BURST / ((performance.now() - t) / 1000);
console.log(
  `${runtime.name}: heartbeat round trip ${rttUs.toFixed(0)} µs; ${BURST} appends at ` +
    `${perSec.toFixed(0)}/s (dropped ${a.stats().dropped})`,
);
await a.close();
await b.close();
