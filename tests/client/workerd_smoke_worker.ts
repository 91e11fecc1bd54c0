/**
 * The client inside workerd (Cloudflare's Workers runtime): a module worker whose fetch
 * handler, given `?url=`, checks put/get, a watch over a streamed body ended by an abort,
 * and the coordination checks (`smoke_coord.ts`), answering "ok" or the failure. I/O is
 * not allowed at a worker's module scope, hence a handler rather than `portable_smoke.ts`.
 * Bundled with esbuild and served by `tests/client/workerd_test.ts`.
 *
 * @module
 */

import { createClient } from "../../src/client/mod.ts";
import { coordinationSmoke } from "./smoke_coord.ts";

async function smoke(url: string): Promise<void> {
  const kv = createClient({ endpoints: [url], timeoutMs: 5_000, retries: 3 });
  const key = `smoke/${crypto.randomUUID()}`;
  const put = await kv.put(key, "hello");
  const got = await kv.get(key);
  if (got?.text() !== "hello") throw new Error("smoke check failed: put then get");
  const stop = new AbortController();
  for await (
    const event of kv.watch(key, {
      exact: true,
      fromRevision: put.modRevision,
      signal: stop.signal,
    })
  ) {
    if (event.text() !== "hello") throw new Error("smoke check failed: watch");
    stop.abort();
  }
  await kv.delete(key);
  await coordinationSmoke(kv);
}

export default {
  /** Runs the checks against `?url=`. */
  async fetch(request: Request): Promise<Response> {
    const target = new URL(request.url).searchParams.get("url");
    if (target === null) return new Response("missing ?url=", { status: 400 });
    try {
      await smoke(target);
      return new Response("ok");
    } catch (error) {
      const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      return new Response(text, { status: 500 });
    }
  },
};
