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

import { smoke } from "./smoke_checks.ts";

declare const process: { argv: string[] } | undefined;
declare const Deno: { args: string[] } | undefined;

const args = typeof Deno !== "undefined" ? Deno.args : process?.argv.slice(2) ?? [];
const [url, token] = args;
if (url === undefined) throw new Error("usage: portable_smoke <base-url> [token]");
await smoke(url, token);
console.log("ok");
