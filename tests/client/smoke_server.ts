/**
 * Serves one fake node and prints its URL, for running `portable_smoke.ts` under other
 * runtimes: `deno run -A tests/client/smoke_server.ts` (stop it with a signal).
 *
 * @module
 */

import { FakeCluster } from "./fake_server.ts";

const cluster = new FakeCluster(1);
console.log(cluster.urls[0]);
const stop = () => void cluster.close().then(() => Deno.exit(0));
Deno.addSignalListener("SIGTERM", stop);
Deno.addSignalListener("SIGINT", stop);
