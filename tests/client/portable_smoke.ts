/**
 * Runtime-portability smoke test: uses only the client (no Deno.*, no node:*) against
 * a live raftkv (or fake) base URL given as the first argument, and prints "ok".
 *
 *   deno run -A tests/client/portable_smoke.ts http://127.0.0.1:8080
 *   npx -y esbuild tests/client/portable_smoke.ts --bundle --format=esm \
 *     --platform=neutral --outfile=/tmp/smoke.mjs && node /tmp/smoke.mjs <url>
 *
 * @module
 */

import {
  createClient,
  type ListItem,
  PreconditionFailed,
  type WatchEvent,
} from "../../src/client/mod.ts";
import { coordinationSmoke } from "./smoke_coord.ts";

declare const process: { argv: string[] } | undefined;
declare const Deno: { args: string[] } | undefined;

const args = typeof Deno !== "undefined" ? Deno.args : process?.argv.slice(2) ?? [];
const [url, token] = args;
if (url === undefined) throw new Error("usage: portable_smoke <base-url> [token]");

const kv = createClient({
  endpoints: [url],
  timeoutMs: 5_000,
  retries: 3,
  ...(token === undefined ? {} : { token }),
});
const prefix = `smoke/${crypto.randomUUID()}/`;
const check = (ok: boolean, what: string) => {
  if (!ok) throw new Error(`smoke check failed: ${what}`);
};

const first = await kv.put(`${prefix}a`, "hello");
const got = await kv.get(`${prefix}a`);
check(got?.text() === "hello" && got.modRevision === first.modRevision, "put then get");
check(await kv.get(`${prefix}missing`) === null, "missing key reads null");
await coordinationSmoke(kv); // txn, atomic, lease, lock
const cas = await kv.put(`${prefix}a`, "x", { ifRevision: first.modRevision - 1 }).catch((e) => e);
check(cas instanceof PreconditionFailed, "lost CAS is PreconditionFailed");
await kv.put(`${prefix}b`, new Uint8Array([0xff, 0x00, 0x80]));
const listed: ListItem[] = [];
for await (const item of kv.list(prefix, { pageSize: 1 })) listed.push(item);
check(listed.length === 2 && listed[1]?.value[0] === 0xff, "paged list with binary value");

const controller = new AbortController();
const events: WatchEvent[] = [];
const watching = (async () => {
  const options = { fromRevision: first.modRevision, signal: controller.signal };
  for await (const event of kv.watch(prefix, options)) {
    events.push(event);
    if (events.length === 3) controller.abort();
  }
})();
await kv.delete(`${prefix}a`);
await watching;
check(events.map((e) => e.type).join() === "put,put,delete", "watch history then live");
check((await kv.deletePrefix(prefix)).deleted === 1, "prefix delete");

// Four events in one network chunk, aborted after the first: this runtime's stream
// must not hand the other three to the loop.
const chunk = [1, 2, 3, 4].map((rev) => {
  const data = { type: "put", key: `k${rev}`, value: "v", revision: rev, createRevision: rev };
  return `event: put\ndata: ${JSON.stringify({ ...data, version: 1 })}\n\n`;
}).join("");
const oneChunk = createClient({
  endpoints: [url],
  fetch: (_input, init) => {
    const signal = init?.signal ?? undefined;
    const body = new ReadableStream<Uint8Array>({
      start(stream) {
        stream.enqueue(new TextEncoder().encode(chunk));
        // Like a socket: the body fails once the request is aborted.
        signal?.addEventListener("abort", () => stream.error(signal.reason), { once: true });
      },
    });
    const headers = { "Content-Type": "text/event-stream" };
    return Promise.resolve(new Response(body, { status: 200, headers }));
  },
});
const stop = new AbortController();
let seen = 0;
for await (const _ of oneChunk.watch("", { fromRevision: 1, signal: stop.signal })) {
  seen++;
  stop.abort();
}
check(seen === 1, `watch ended after abort (saw ${seen} of one chunk's 4 events)`);
console.log("ok");
