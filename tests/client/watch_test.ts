import assert from "node:assert/strict";
import { RevisionCompacted, type WatchEvent } from "../../src/client/mod.ts";
import { take, testClient, waitFor, withCluster } from "./helpers.ts";

function brief(events: WatchEvent[]): string[] {
  return events.map((e) => `${e.revision}:${e.type}:${e.key}:${e.text() ?? "-"}`);
}

Deno.test("watch from a revision yields history, then live changes, with values", async () => {
  await withCluster(1, async (cluster) => {
    const kv = testClient(cluster.urls);
    await kv.put("w/a", "1");
    await kv.put("other", "x");
    const events = take(kv.watch("w/", { fromRevision: 1 }), 3);
    await waitFor(() => cluster.store.watchers === 1, "the watch to connect");
    await kv.put("w/b", "2");
    await kv.delete("w/a");
    assert.deepEqual(brief(await events), ["1:put:w/a:1", "3:put:w/b:2", "4:delete:w/a:-"]);
    await waitFor(() => cluster.store.watchers === 0, "the stream to close after break");
  });
});

Deno.test("watch without fromRevision reports only changes after it starts", async () => {
  await withCluster(1, async (cluster) => {
    const kv = testClient(cluster.urls);
    await kv.put("w/old", "1");
    const events = take(kv.watch("w/"), 1);
    await waitFor(() => cluster.store.watchers === 1, "the watch to connect");
    await kv.put("w/new", "2");
    assert.deepEqual(brief(await events), ["2:put:w/new:2"]);
    assert.equal(cluster.requests("GET", "/v1/watch")[0]?.search.get("fromRevision"), "2");
  });
});

Deno.test("watch resumes after the server drops the stream, losing and repeating nothing", async () => {
  await withCluster(2, async (cluster) => {
    const kv = testClient(cluster.urls);
    for (const node of cluster.nodes) node.faults.watchDropPlan = Array(20).fill(2);
    const expected: string[] = [];
    for (let i = 1; i <= 5; i++) {
      await kv.put(`w/${i}`, `v${i}`);
      expected.push(`${i}:put:w/${i}:v${i}`);
    }
    const events = take(kv.watch("w/", { fromRevision: 1 }), 10, 5_000);
    for (let i = 6; i <= 10; i++) {
      await kv.put(`w/${i}`, `v${i}`);
      expected.push(`${i}:put:w/${i}:v${i}`);
    }
    assert.deepEqual(brief(await events), expected);
    const resumes = cluster.requests("GET", "/v1/watch").map((r) => r.search.get("fromRevision"));
    assert.ok(resumes.length >= 5, `reconnected ${resumes.length - 1} times`);
    assert.equal(resumes[0], "1");
  });
});

Deno.test("a drop inside a prefix delete's revision neither loses nor repeats its keys", async () => {
  await withCluster(1, async (cluster) => {
    const kv = testClient(cluster.urls);
    for (const key of ["d/a", "d/b", "d/c", "d/d"]) await kv.put(key, "x");
    await kv.deletePrefix("d/"); // revision 5 holds four delete events
    await kv.put("d/e", "y");
    cluster.nodes[0]!.faults.watchDropPlan = [6, 1]; // cuts revision 5 apart, twice
    const events = await take(kv.watch("d/", { fromRevision: 1 }), 9, 5_000);
    assert.deepEqual(brief(events), [
      "1:put:d/a:x",
      "2:put:d/b:x",
      "3:put:d/c:x",
      "4:put:d/d:x",
      "5:delete:d/a:-",
      "5:delete:d/b:-",
      "5:delete:d/c:-",
      "5:delete:d/d:-",
      "6:put:d/e:y",
    ]);
  });
});

Deno.test("watch decodes base64 values", async () => {
  await withCluster(1, async (cluster) => {
    const kv = testClient(cluster.urls);
    const bytes = new Uint8Array([0xff, 0xfe, 0x00]);
    await kv.put("b", bytes);
    const [event] = await take(kv.watch("b", { fromRevision: 1 }), 1);
    assert.deepEqual(event?.value, bytes);
  });
});

Deno.test("watching a compacted revision throws RevisionCompacted", async () => {
  await withCluster(1, async (cluster) => {
    cluster.store.compactedBelow = 10;
    const error = await take(testClient(cluster.urls).watch("", { fromRevision: 3 }), 1)
      .catch((e) => e);
    assert.ok(error instanceof RevisionCompacted, String(error));
    assert.equal(error.status, 410);
  });
});

Deno.test("aborting the signal ends the watch without an error and closes the stream", async () => {
  await withCluster(1, async (cluster) => {
    const kv = testClient(cluster.urls);
    const controller = new AbortController();
    const seen: WatchEvent[] = [];
    const done = (async () => {
      for await (const event of kv.watch("", { fromRevision: 1, signal: controller.signal })) {
        seen.push(event);
      }
    })();
    await waitFor(() => cluster.store.watchers === 1, "the watch to connect");
    await kv.put("a", "1");
    await waitFor(() => seen.length === 1, "the first event");
    controller.abort();
    await done;
    await waitFor(() => cluster.store.watchers === 0, "the stream to close");
  });
});

Deno.test("a silent stream is reopened after the idle timeout; 503s on reconnect are retried", async () => {
  await withCluster(1, async (cluster) => {
    const kv = testClient(cluster.urls);
    const events = take(kv.watch("", { fromRevision: 1, idleTimeoutMs: 50 }), 1, 5_000);
    await waitFor(() => cluster.requests("GET", "/v1/watch").length >= 2, "an idle reconnect");
    cluster.nodes[0]!.faults.unavailable = 2;
    await waitFor(() => cluster.requests("GET", "/v1/watch").length >= 5, "reconnects past 503s");
    await kv.put("late", "1");
    assert.deepEqual(brief(await events), ["1:put:late:1"]);
  });
});

Deno.test("heartbeats keep an idle stream open", async () => {
  await withCluster(1, async (cluster) => {
    cluster.nodes[0]!.faults.heartbeatMs = 10;
    const kv = testClient(cluster.urls);
    const controller = new AbortController();
    const done = (async () => {
      const options = { fromRevision: 1, idleTimeoutMs: 100, signal: controller.signal };
      for await (const _ of kv.watch("", options)) { /* none expected */ }
    })();
    // Ten idle timeouts' worth of heartbeats: the stream must stay the first one.
    const heartbeatsBefore = Date.now();
    await waitFor(() => Date.now() - heartbeatsBefore > 1_000, "time to pass", 2_000);
    assert.equal(cluster.requests("GET", "/v1/watch").length, 1);
    controller.abort();
    await done;
  });
});

Deno.test("a mid-stream unavailable error event makes the watch resume; compaction ends it", async () => {
  await withCluster(1, async (cluster) => {
    const kv = testClient(cluster.urls);
    for (let i = 1; i <= 4; i++) await kv.put(`e/${i}`, String(i));
    const node = cluster.nodes[0]!;
    node.faults.watchDropPlan = [2];
    node.faults.watchErrorCode = "unavailable";
    const events = await take(kv.watch("e/", { fromRevision: 1 }), 4);
    assert.deepEqual(events.map((e) => e.revision), [1, 2, 3, 4]);
    node.faults.watchDropPlan = [1];
    node.faults.watchErrorCode = "revision_compacted";
    const error = await take(kv.watch("e/", { fromRevision: 1 }), 4).catch((e) => e);
    assert.ok(error instanceof RevisionCompacted, String(error));
  });
});

Deno.test("a watch aborted before it has connected ends quietly", async () => {
  await withCluster(1, async (cluster) => {
    cluster.nodes[0]!.faults.delayMs = 1_000;
    const controller = new AbortController();
    const iterator = testClient(cluster.urls).watch("", { signal: controller.signal });
    const done = take(iterator, 1);
    setTimeout(() => controller.abort(), 20);
    assert.deepEqual(await done, []);
  });
});

/**
 * A fetch whose watch answer delivers `events` in one network chunk, then stays open;
 * `requests` collects each request's signal, to see the connection closed.
 */
function oneChunkFetch(events: number, requests: AbortSignal[]): typeof fetch {
  const sse = Array.from({ length: events }, (_, i) => {
    const rev = i + 1;
    const data = {
      type: "put",
      key: `k${rev}`,
      value: "v",
      revision: rev,
      createRevision: rev,
      version: 1,
    };
    return `event: put\ndata: ${JSON.stringify(data)}\n\n`;
  }).join("");
  return (_input, init) => {
    const signal = init?.signal ?? undefined;
    if (signal) requests.push(signal);
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(sse));
        // Like a real socket, the stream errors once the request is aborted.
        signal?.addEventListener("abort", () => controller.error(signal.reason), { once: true });
      },
    });
    return Promise.resolve(
      new Response(body, { status: 200, headers: { "Content-Type": "text/event-stream" } }),
    );
  };
}

Deno.test("aborting mid-chunk ends the watch before the chunk's remaining events", async () => {
  const controller = new AbortController();
  const requests: AbortSignal[] = [];
  const kv = testClient(["http://127.0.0.1:1"], { fetch: oneChunkFetch(4, requests) });
  const seen: number[] = [];
  for await (const event of kv.watch("", { fromRevision: 1, signal: controller.signal })) {
    seen.push(event.revision);
    controller.abort();
  }
  assert.deepEqual(seen, [1], "events yielded after the abort");
  assert.equal(requests.length, 1, "one connection, not reopened after the abort");
  assert.ok(requests[0]!.aborted, "the stream was closed");
});
