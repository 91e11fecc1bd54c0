/**
 * The client inside workerd: the bundled portability checks (key-value, watch, txn,
 * atomic, lease, lock) run in a module worker against a fake node. workerd comes from
 * npm (`npx -y workerd`); its network service is allowed to reach loopback.
 */

import assert from "node:assert/strict";
import { freePorts, waitFor } from "../integration/harness.ts";
import { FakeCluster } from "./fake_server.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const WORKER = new URL("./workerd_smoke_worker.ts", import.meta.url).pathname;

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.ok(out.success, `${cmd} ${args.join(" ")} failed:\n${text}`);
  return new TextDecoder().decode(out.stdout);
}

/**
 * The workerd executable itself, fetched by npx. Started directly, not through npx, so
 * killing our child by its PID stops workerd (npx would leave it running as a grandchild).
 */
async function workerdBinary(): Promise<string> {
  const shim = (await run("npx", [
    "-y",
    "-p",
    "workerd",
    "sh",
    "-c",
    'readlink -f "$(command -v workerd)"',
  ])).trim();
  const head = (await Deno.readFile(shim)).subarray(0, 4);
  if (head[0] === 0x7f && head[1] === 0x45) return shim; // ELF: install.js put the binary here
  // Otherwise a Node launcher: take the platform package's binary next to it.
  const arch = Deno.build.arch === "aarch64" ? "arm64" : "64";
  return new URL(`../../@cloudflare/workerd-${Deno.build.os}-${arch}/bin/workerd`, `file://${shim}`)
    .pathname;
}

Deno.test("the client's portability checks pass inside workerd", opts, async () => {
  const cluster = new FakeCluster(1);
  const dir = await Deno.makeTempDir({ prefix: "raftkv-workerd-" });
  let child: Deno.ChildProcess | null = null;
  try {
    await run("npx", [
      "-y",
      "esbuild@0.24",
      WORKER,
      "--bundle",
      "--format=esm",
      "--platform=neutral",
      "--target=es2022",
      `--outfile=${dir}/worker.mjs`,
    ]);
    const [port] = freePorts(1);
    await Deno.writeTextFile(
      `${dir}/config.capnp`,
      `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .smoke),
    (name = "loopback", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "main")],
);
const smoke :Workerd.Worker = (
  modules = [(name = "worker", esModule = embed "worker.mjs")],
  compatibilityDate = "2024-09-23",
  globalOutbound = "loopback",
);
`,
    );
    child = new Deno.Command(await workerdBinary(), {
      args: ["serve", `${dir}/config.capnp`],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const url = `http://127.0.0.1:${port}/?url=${encodeURIComponent(cluster.urls[0]!)}`;
    const answer = await waitFor(
      "workerd to answer",
      async () => {
        const res = await fetch(url, { signal: AbortSignal.timeout(30_000) }).catch(() => null);
        return res === null ? undefined : { status: res.status, text: await res.text() };
      },
      120_000,
      250,
    );
    assert.equal(answer.text, "ok", `workerd: ${answer.status} ${answer.text}`);
  } finally {
    try {
      child?.kill("SIGTERM");
    } catch { /* exited */ }
    await child?.status;
    await child?.stderr.cancel().catch(() => {});
    await cluster.close();
    await Deno.remove(dir, { recursive: true });
  }
});
