/**
 * raftkv: a Raft-replicated key-value store for Deno, built for edge workloads.
 *
 * This module is the client: fetch-only, so it runs unchanged on Deno, Bun, Node ≥ 20,
 * browsers and Workers. It imports no `Deno.*` and nothing from the server.
 *
 * @example Write, read and watch
 * ```ts
 * import { createClient } from "./mod.ts";
 *
 * const kv = createClient({ endpoints: ["http://127.0.0.1:8001", "http://127.0.0.1:8002"] });
 * const { modRevision } = await kv.put("greeting", "hello");
 * const got = await kv.get("greeting");
 * console.log(got?.text(), modRevision);
 * for await (const event of kv.watch("greet", { fromRevision: modRevision })) {
 *   console.log(event.type, event.key);
 *   break;
 * }
 * ```
 *
 * The server is started with `deno task node` (see the README).
 *
 * @module
 */

export * from "./src/client/mod.ts";
