/**
 * The Bun-side fixes around the shared fetch handler (src/runtime/bun_http.ts), checked
 * here as plain functions: refused bodies close the connection, SSE streams open with a
 * comment and still pass a client's cancel through, everything else is untouched.
 */

import assert from "node:assert/strict";
import { bunFetchHandler, MAX_DRAINED_BODY_BYTES } from "../../src/runtime/bun_http.ts";

const put = (headers: Record<string, string>) =>
  new Request("http://x/v1/kv/a", { method: "PUT", body: "x", headers });

Deno.test("a body the app left unread is drained before the answer, so no reset can eat it", async () => {
  for (const status of [200, 400, 413]) {
    let drained = false;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        drained = true;
        controller.enqueue(new Uint8Array(64 * 1024));
        controller.close();
      },
    });
    const request = new Request("http://x/metrics", {
      method: "POST",
      body,
      headers: { "content-length": String(64 * 1024) },
    });
    const handler = bunFetchHandler(() => Response.json({ error: {} }, { status }));
    const res = await handler(request);
    assert.equal(res.status, status);
    assert.ok(drained, `the unread body was read before the ${status} answer`);
    assert.equal(res.headers.get("connection"), null, `${status}: the connection stays open`);
    assert.deepEqual(await res.json(), { error: {} });
  }
});

Deno.test("a body too large to drain, or refused half-read, closes the connection instead", async () => {
  const big = `${MAX_DRAINED_BODY_BYTES + 1}`;
  for (const status of [200, 400, 413]) {
    const handler = bunFetchHandler(() => Response.json({ error: {} }, { status }));
    const res = await handler(put({ "content-length": big }));
    assert.equal(res.headers.get("connection"), "close", `${status} to an undrainable body`);
    assert.deepEqual(await res.json(), { error: {} });
  }
  for (const status of [400, 413]) {
    const handler = bunFetchHandler(async (request) => {
      const reader = request.body!.getReader();
      await reader.read(); // the app read some of it, then refused
      await reader.cancel();
      return Response.json({ error: {} }, { status });
    });
    const res = await handler(put({ "content-length": "1" }));
    assert.equal(res.headers.get("connection"), "close", `${status} after a half-read body`);
  }
  const ok = await bunFetchHandler(async (request) => new Response(await request.text()))(
    put({ "content-length": "1" }),
  );
  assert.equal(ok.headers.get("connection"), null, "a body the app read keeps the connection");
  const noBody = await bunFetchHandler(() => new Response("bad", { status: 400 }))(
    new Request("http://x/v1/kv/a"),
  );
  assert.equal(noBody.headers.get("connection"), null);
});

Deno.test("a fetched (immutable-headers) 413 is copied, not mutated", async () => {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("too big", { status: 413 }),
  );
  try {
    const handler = bunFetchHandler(() => fetch(`http://127.0.0.1:${server.addr.port}/`));
    const res = await handler(put({ "content-length": `${MAX_DRAINED_BODY_BYTES + 1}` }));
    assert.equal(res.headers.get("connection"), "close");
    assert.equal(await res.text(), "too big");
  } finally {
    await server.shutdown();
  }
});

Deno.test("an SSE stream starts with a comment, and a client's cancel reaches the source", async () => {
  let cancelled = false;
  const source = new ReadableStream<Uint8Array>({
    cancel() {
      cancelled = true;
    },
  });
  const handler = bunFetchHandler(() =>
    new Response(source, { headers: { "content-type": "text/event-stream" } })
  );
  const res = await handler(new Request("http://x/v1/watch"));
  assert.equal(res.headers.get("content-type"), "text/event-stream");
  const reader = res.body!.getReader();
  const first = await reader.read();
  assert.equal(new TextDecoder().decode(first.value), ": open\n\n");
  await reader.cancel();
  for (let i = 0; i < 10 && !cancelled; i++) await new Promise((r) => setTimeout(r, 0));
  assert.ok(cancelled, "the watch behind the stream is told the client left");
});
