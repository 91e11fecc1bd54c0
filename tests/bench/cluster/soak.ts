/**
 * `deno run -A tests/bench/cluster/soak.ts`: a bounded write soak for memory. raftkv
 * (3 members, fsync always) and etcd 3.4 (3 members) each take wrk PUTs of 100-byte
 * values over a key space for the same time; then each member's RSS and data directory
 * size are printed, and the raftkv leader (started with --inspect on loopback) is asked
 * through the V8 inspector for `Deno.memoryUsage()` and a heap snapshot, summarised as
 * self size per object kind, so the report says where the memory goes.
 *
 * Options: --seconds 60  --conns 32  --keys 100000  --top 25  --out results/soak
 *
 * @module
 */

import { parseArgs } from "node:util";
import { freePorts, waitFor } from "../../integration/harness.ts";
import { startEtcd } from "./etcd.ts";
import { rssMiB } from "./floors.ts";
import { runWrk } from "./wrk.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    seconds: { type: "string", default: "60" },
    conns: { type: "string", default: "32" },
    keys: { type: "string", default: "100000" },
    top: { type: "string", default: "25" },
    out: { type: "string", default: "results/soak" },
  },
});
const seconds = Number(values.seconds);
const connections = Number(values.conns);
const keyspace = Number(values.keys);
const MAIN = new URL("../../../src/main.ts", import.meta.url).pathname;

/** Bytes under `dir`, recursively (0 when it is gone). */
async function duBytes(dir: string): Promise<number> {
  let total = 0;
  try {
    for await (const e of Deno.readDir(dir)) {
      const path = `${dir}/${e.name}`;
      if (e.isDirectory) total += await duBytes(path);
      else if (e.isFile) total += (await Deno.stat(path)).size;
    }
  } catch { /* gone */ }
  return total;
}

/** A minimal inspector client: one WebSocket, numbered calls, events to a callback. */
class Inspector {
  #ws: WebSocket;
  #next = 1;
  #pending = new Map<number, (result: unknown) => void>();
  onEvent: (method: string, params: Record<string, unknown>) => void = () => {};
  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.onmessage = (e) => {
      const msg = JSON.parse(e.data as string);
      if (msg.id !== undefined) this.#pending.get(msg.id)?.(msg.result ?? msg.error);
      else this.onEvent(msg.method, msg.params);
    };
  }
  static async connect(port: number): Promise<Inspector> {
    const targets = await (await fetch(`http://127.0.0.1:${port}/json`)).json() as {
      webSocketDebuggerUrl: string;
    }[];
    const ws = new WebSocket(targets[0]!.webSocketDebuggerUrl);
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = reject;
    });
    return new Inspector(ws);
  }
  call(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    const id = this.#next++;
    const answer = new Promise<unknown>((resolve) => this.#pending.set(id, resolve));
    this.#ws.send(JSON.stringify({ id, method, params }));
    return answer;
  }
  close(): void {
    this.#ws.close();
  }
}

/** Self size per "type:name" of a heap snapshot, largest first. */
function summarise(snapshotJson: string, top: number): [string, number, number][] {
  const snap = JSON.parse(snapshotJson) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf("type");
  const nameAt = fields.indexOf("name");
  const sizeAt = fields.indexOf("self_size");
  const byKind = new Map<string, [number, number]>();
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + typeAt]!] ?? "?";
    // Strings and code are grouped by type; objects by constructor name.
    const name = type === "object" || type === "native" || type === "closure"
      ? snap.strings[snap.nodes[i + nameAt]!]!.slice(0, 60)
      : "";
    const kind = `${type}${name ? `:${name}` : ""}`;
    const entry = byKind.get(kind) ?? [0, 0];
    entry[0] += snap.nodes[i + sizeAt]!;
    entry[1]++;
    byKind.set(kind, entry);
  }
  return [...byKind.entries()].map(([k, [size, count]]): [string, number, number] => [
    k,
    size,
    count,
  ]).sort((a, b) => b[1] - a[1]).slice(0, top);
}

async function main(): Promise<void> {
  await Deno.mkdir(values.out, { recursive: true });
  const root = await Deno.makeTempDir({ prefix: "raftkv-soak-" });
  const ports = freePorts(9);
  const ids = ["n1", "n2", "n3"];
  const peer = (i: number) => `127.0.0.1:${ports[3 * i]}`;
  const http = (i: number) => `http://127.0.0.1:${ports[3 * i + 1]}`;
  const initial = ids.map((id, i) => `${id}=${peer(i)}@${http(i)}`).join(",");
  const children = ids.map((id, i) =>
    new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        `--inspect=127.0.0.1:${ports[3 * i + 2]}`,
        "-A",
        MAIN,
        ...["--id", id, "--peer-addr", peer(i), "--http-addr", http(i).slice(7)],
        ...["--data-dir", `${root}/${id}`, "--initial-cluster", initial, "--fsync", "always"],
      ],
      stdout: "null",
      stderr: "null",
    }).spawn()
  );
  const etcd = startEtcd(`${root}/etcd`);
  try {
    const leader = await waitFor("a raftkv leader", async () => {
      for (let i = 0; i < ids.length; i++) {
        const res = await fetch(`${http(i)}/v1/status`, { signal: AbortSignal.timeout(1000) });
        const status = await res.json() as { role: string };
        if (status.role === "leader") return i;
      }
      return undefined;
    }, 30_000);
    const etcdUrl = await etcd.leaderUrl();
    const common = { op: "put" as const, connections, seconds, keyspace };
    const ours = await runWrk({ ...common, url: http(leader), system: "raftkv" });
    const theirs = await runWrk({ ...common, url: etcdUrl, system: "etcd3" });
    const lines = [
      `# write soak: ${seconds} s of PUTs, 100-byte values over ${keyspace} keys, ${connections} connections`,
      "",
      `raftkv ${Math.round(ours.opsPerSec)} ops/s (p99 ${(ours.p99Us / 1000).toFixed(1)} ms); ` +
      `etcd v3 ${Math.round(theirs.opsPerSec)} ops/s (p99 ${(theirs.p99Us / 1000).toFixed(1)} ms)`,
      "",
      "| member | RSS MiB | data dir MiB |",
      "|---|---:|---:|",
    ];
    for (let i = 0; i < ids.length; i++) {
      lines.push(
        `| raftkv ${ids[i]}${i === leader ? " (leader)" : ""} | ${
          (await rssMiB(children[i]!.pid)).toFixed(0)
        } | ${((await duBytes(`${root}/${ids[i]}`)) / 2 ** 20).toFixed(0)} |`,
      );
    }
    for (let i = 0; i < etcd.pids.length; i++) {
      lines.push(
        `| etcd e${i + 1} | ${(await rssMiB(etcd.pids[i]!)).toFixed(0)} | ${
          ((await duBytes(`${root}/etcd/e${i + 1}`)) / 2 ** 20).toFixed(0)
        } |`,
      );
    }
    // Where the leader's memory goes: the runtime's own split, then the JS heap by kind.
    const inspector = await Inspector.connect(ports[3 * leader + 2]!);
    try {
      const usage = await inspector.call("Runtime.evaluate", {
        expression: "JSON.stringify(Deno.memoryUsage())",
        returnByValue: true,
      }) as { result: { value: string } };
      const mem = JSON.parse(usage.result.value) as Record<string, number>;
      lines.push(
        "",
        `Leader Deno.memoryUsage() (MiB): ${
          Object.entries(mem).map(([k, v]) => `${k} ${(v / 2 ** 20).toFixed(0)}`).join(", ")
        }`,
      );
      const chunks: string[] = [];
      inspector.onEvent = (method, params) => {
        if (method === "HeapProfiler.addHeapSnapshotChunk") chunks.push(params.chunk as string);
      };
      await inspector.call("HeapProfiler.takeHeapSnapshot", { reportProgress: false });
      const json = chunks.join("");
      await Deno.writeTextFile(`${values.out}/leader.heapsnapshot`, json);
      lines.push(
        "",
        `Leader heap snapshot (${
          (json.length / 2 ** 20).toFixed(0)
        } MiB of JSON, in ${values.out}/leader.heapsnapshot), self size by kind:`,
        "",
        "| kind | self MiB | objects |",
        "|---|---:|---:|",
        ...summarise(json, Number(values.top)).map(([k, size, count]) =>
          `| \`${k}\` | ${(size / 2 ** 20).toFixed(1)} | ${count.toLocaleString("en-US")} |`
        ),
      );
    } finally {
      inspector.close();
    }
    const text = lines.join("\n") + "\n";
    console.log(text);
    await Deno.writeTextFile(`${values.out}/soak.md`, text);
  } finally {
    for (const c of children) {
      try {
        c.kill("SIGKILL");
      } catch { /* gone */ }
    }
    await Promise.all(children.map((c) => c.status));
    await etcd.stop();
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
}

await main();
