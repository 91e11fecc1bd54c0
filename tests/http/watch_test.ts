import assert from "node:assert/strict";
import { RaftkvError } from "../../src/errors.ts";
import type { WatchEvent } from "../../src/kv/types.ts";
import { MAX_LONG_POLL_EVENTS } from "../../src/http/watch_stream.ts";
import { put, setup, SseReader, waitFor } from "./helpers.ts";

const isEvent = (item: { event?: string }) => item.event !== undefined;

Deno.test("SSE replays history from fromRevision, then streams live changes in order", async () => {
  const { app } = setup();
  await put(app, "p/a", "1");
  await put(app, "other", "x");
  await put(app, "p/b", "2");
  const res = await app.request("/v1/watch?prefix=p/&fromRevision=1");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("Content-Type"), "text/event-stream");
  assert.equal(res.headers.get("X-Raftkv-Leader"), "n1");
  const sse = new SseReader(res);
  try {
    const history = await sse.take(2, isEvent);
    await put(app, "p/a", "3");
    await app.request("/v1/kv/p/b", { method: "DELETE" });
    const live = await sse.take(2, isEvent);
    assert.deepEqual([...history, ...live].map((e) => [e.event, e.id]), [
      ["put", "1"],
      ["put", "3"],
      ["put", "4"],
      ["delete", "5"],
    ]);
    assert.deepEqual(JSON.parse(history[0]?.data ?? ""), {
      type: "put",
      key: "p/a",
      value: "1",
      revision: 1,
      createRevision: 1,
      version: 1,
      lease: null,
    });
    assert.deepEqual(JSON.parse(live[1]?.data ?? ""), {
      type: "delete",
      key: "p/b",
      value: null,
      revision: 5,
      createRevision: 3,
      version: 0,
      lease: null,
    });
  } finally {
    await sse.cancel();
  }
});

Deno.test("SSE frames are event, data and id lines ended by a blank line", async () => {
  const { app } = setup();
  await put(app, "k", new Uint8Array([0xff]));
  const res = await app.request("/v1/watch?fromRevision=1");
  const reader = res.body?.getReader();
  assert.ok(reader);
  try {
    const { value } = await reader.read();
    assert.equal(
      new TextDecoder().decode(value),
      'event: put\ndata: {"type":"put","key":"k","value":"/w==","encoding":"base64",' +
        '"revision":1,"createRevision":1,"version":1,"lease":null}\nid: 1\n\n',
    );
  } finally {
    await reader.cancel();
  }
});

Deno.test("without fromRevision a watch sees only changes made after it started", async () => {
  const { node, app } = setup();
  await put(app, "old", "x");
  const sse = new SseReader(await app.request("/v1/watch"));
  try {
    await waitFor(() => node.activeWatches === 1, "the watch to start");
    await put(app, "new", "y");
    const [event] = await sse.take(1, isEvent);
    assert.equal(JSON.parse(event?.data ?? "").key, "new");
  } finally {
    await sse.cancel();
  }
});

Deno.test("Last-Event-ID resumes after the last event the client saw", async () => {
  const { app } = setup();
  for (const key of ["a", "b", "c"]) await put(app, key, key);
  const sse = new SseReader(await app.request("/v1/watch", { headers: { "Last-Event-ID": "2" } }));
  try {
    const [event] = await sse.take(1, isEvent);
    assert.equal(event?.id, "3");
  } finally {
    await sse.cancel();
  }
});

Deno.test("a watch from a compacted revision answers 410 before any stream opens", async () => {
  const { node, app } = setup();
  node.compactedBelow = 10;
  const res = await app.request("/v1/watch?fromRevision=3");
  assert.equal(res.status, 410);
  const body = await res.json();
  assert.equal(body.error.code, "revision_compacted");
  assert.match(body.error.message, /compacted/);
  // The refused watch gave its slot back: a full set of watches still fits.
  assert.equal((await app.request("/v1/watch?fromRevision=3&wait=true")).status, 410);
});

Deno.test("watches past maxWatchers answer 429 until one closes", async () => {
  const { node, app } = setup({ maxWatchers: 2 });
  const first = new SseReader(await app.request("/v1/watch"));
  const second = new SseReader(await app.request("/v1/watch"));
  try {
    const refused = await app.request("/v1/watch");
    assert.equal(refused.status, 429);
    assert.equal((await refused.json()).error.code, "too_many_requests");
    await first.cancel();
    await waitFor(() => node.activeWatches === 1, "the cancelled watch to end");
    // The slot is given back once the stream's cleanup has run: retry until it has.
    const deadline = Date.now() + 3000;
    let third = await app.request("/v1/watch");
    while (third.status === 429 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 1));
      third = await app.request("/v1/watch");
    }
    assert.equal(third.status, 200);
    await new SseReader(third).cancel();
  } finally {
    await second.cancel();
  }
  await waitFor(() => node.activeWatches === 0, "every watch to end");
});

Deno.test("an idle SSE stream carries heartbeat comments", async () => {
  const { app } = setup({ heartbeatMs: 10 });
  const sse = new SseReader(await app.request("/v1/watch"));
  try {
    const [beat] = await sse.take(1);
    assert.deepEqual(beat, { comment: "heartbeat" });
  } finally {
    await sse.cancel();
  }
});

Deno.test("closing the SSE connection ends the node's watch", async () => {
  const { node, app } = setup();
  const sse = new SseReader(await app.request("/v1/watch"));
  await waitFor(() => node.activeWatches === 1, "the watch to start");
  await sse.cancel();
  await waitFor(() => node.activeWatches === 0, "the watch to end");
});

Deno.test("long poll answers the events already there, with the next fromRevision", async () => {
  const { node, app } = setup();
  for (const key of ["a", "b", "c"]) await put(app, key, key);
  const res = await app.request("/v1/watch?fromRevision=2&wait=true");
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.deepEqual(body.events.map((e: { key: string }) => e.key), ["b", "c"]);
  assert.equal(body.next, 4);
  await waitFor(() => node.activeWatches === 0, "the long poll's watch to end");
});

Deno.test("long poll waits for the first live change", async () => {
  const { node, app } = setup();
  const answer = Promise.resolve(app.request("/v1/watch?fromRevision=1&wait=true&timeout=5"));
  await waitFor(() => node.activeWatches === 1, "the long poll to wait");
  await put(app, "k", "v");
  const body = await (await answer).json();
  assert.deepEqual(body.events.map((e: { key: string }) => e.key), ["k"]);
  assert.equal(body.next, 2);
});

Deno.test("long poll with nothing to report answers no events after its timeout", async () => {
  const { node, app } = setup();
  await put(app, "k", "v");
  const res = await app.request("/v1/watch?fromRevision=2&wait=true&timeout=1");
  assert.deepEqual(await res.json(), { events: [], next: 2 });
  await waitFor(() => node.activeWatches === 0, "the long poll's watch to end");
});

Deno.test("malformed watch parameters answer 400", async () => {
  const { app } = setup();
  for (
    const query of [
      "fromRevision=-1",
      "fromRevision=x",
      "wait=yes",
      "wait=true&timeout=0",
      "timeout=301",
    ]
  ) {
    const res = await app.request(`/v1/watch?${query}`);
    assert.equal(res.status, 400, query);
    await res.body?.cancel();
  }
  const badId = await app.request("/v1/watch", { headers: { "Last-Event-ID": "abc" } });
  assert.equal(badId.status, 400);
});

Deno.test("HEAD on the watch route opens no watch", async () => {
  const { node, app } = setup({ maxWatchers: 1 });
  for (let i = 0; i < 3; i++) {
    const res = await app.request("/v1/watch", { method: "HEAD" });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("Content-Type"), "text/event-stream");
  }
  assert.equal(node.activeWatches, 0);
  const sse = new SseReader(await app.request("/v1/watch"));
  await sse.cancel();
});

Deno.test("a watch that fails mid-stream ends with an error event", async () => {
  const { node, app } = setup();
  await put(app, "k", "v");
  const original = node.watch.bind(node);
  node.watch = async function* (prefix, from, signal) {
    for await (const event of original(prefix, from, signal)) {
      yield event;
      throw new RaftkvError("revision_compacted", "watcher fell too far behind");
    }
  };
  const sse = new SseReader(await app.request("/v1/watch?fromRevision=1"));
  const [put1, failure] = await sse.take(2, isEvent);
  assert.equal(put1?.event, "put");
  assert.equal(failure?.event, "error");
  assert.deepEqual(JSON.parse(failure?.data ?? ""), {
    error: { code: "revision_compacted", message: "watcher fell too far behind" },
  });
  await waitFor(() => node.activeWatches === 0, "the failed watch to end");
});

Deno.test("an unexpected watch failure is logged and reported as internal", async () => {
  const { node, app } = setup();
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => (release = resolve));
  node.watch = () => ({
    [Symbol.asyncIterator]: () => ({
      next: async (): Promise<IteratorResult<WatchEvent>> => {
        await gate; // still pending when the route decides between 410 and a stream
        throw new Error("secret detail");
      },
    }),
  });
  const logged: unknown[][] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => logged.push(args);
  try {
    const res = await app.request("/v1/watch?fromRevision=1");
    assert.equal(res.status, 200);
    const sse = new SseReader(res);
    release();
    const [failure] = await sse.take(1, isEvent);
    assert.equal(failure?.event, "error");
    assert.deepEqual(JSON.parse(failure?.data ?? ""), {
      error: { code: "internal", message: "internal error" },
    });
  } finally {
    console.error = original;
  }
  assert.equal(logged.length, 1);
});

Deno.test("over a real socket, a client hanging up ends the node's watch", async () => {
  const { node, app } = setup();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
  const client = new AbortController();
  try {
    const res = await fetch(`http://127.0.0.1:${server.addr.port}/v1/watch?fromRevision=1`, {
      signal: client.signal,
    });
    assert.equal(res.status, 200);
    await waitFor(() => node.activeWatches === 1, "the watch to start");
    await put(app, "k", "v");
    const [event] = await new SseReader(res).take(1, isEvent);
    assert.equal(event?.id, "1");
    client.abort();
    await waitFor(() => node.activeWatches === 0, "the server to notice the hang-up");
  } finally {
    client.abort();
    await server.shutdown();
  }
});

Deno.test("a prefix delete's events get distinct SSE ids, and a reconnect loses none", async () => {
  const { app } = setup();
  for (let i = 1; i <= 5; i++) await put(app, `p/${i}`, "v");
  await app.request("/v1/kv?prefix=p/", { method: "DELETE" }); // revision 6, five events
  const first = new SseReader(await app.request("/v1/watch?prefix=p/&fromRevision=6"));
  let all: { id?: string; data?: string }[];
  try {
    all = await first.take(5, isEvent);
  } finally {
    await first.cancel();
  }
  assert.deepEqual(all.map((e) => e.id), ["6", "6.1", "6.2", "6.3", "6.4"]);
  // An EventSource reconnects to its first URL plus the id it saw last: the id wins.
  const again = new SseReader(
    await app.request("/v1/watch?prefix=p/&fromRevision=1", {
      headers: { "Last-Event-ID": "6.1" },
    }),
  );
  try {
    const rest = await again.take(3, isEvent);
    assert.deepEqual(rest.map((e) => e.id), ["6.2", "6.3", "6.4"]);
    assert.deepEqual(rest.map((e) => e.data), all.slice(2).map((e) => e.data));
  } finally {
    await again.cancel();
  }
});

Deno.test("a long poll cut inside one revision resumes inside it with skip", async () => {
  const { app } = setup();
  const count = MAX_LONG_POLL_EVENTS + 1;
  for (let i = 0; i < count; i++) await put(app, `q/${i}`, "v");
  await app.request("/v1/kv?prefix=q/", { method: "DELETE" });
  const revision = count + 1;
  const first = await (await app.request(`/v1/watch?fromRevision=${revision}&wait=true`)).json();
  assert.equal(first.events.length, MAX_LONG_POLL_EVENTS);
  assert.deepEqual([first.next, first.skip], [revision, MAX_LONG_POLL_EVENTS]);
  const path = `/v1/watch?fromRevision=${first.next}&skip=${first.skip}&wait=true&timeout=1`;
  const second = await (await app.request(path)).json();
  assert.equal(second.events.length, 1);
  assert.deepEqual([second.next, second.skip], [revision + 1, undefined]);
  const keys = new Set([...first.events, ...second.events].map((e: { key: string }) => e.key));
  assert.equal(keys.size, count, "every delete once");
});
