/**
 * `deno task cluster` (or `bun run cluster:bun`): a local cluster in one command, no
 * configuration. Starts voters n1..nN (peer ports 7001.., HTTP 8001.., data under
 * ./data/), prints each node's URL and the leader once elected, and stops every node
 * cleanly on Ctrl-C. `--runtime` picks what the nodes run on: deno, bun, or a
 * comma-separated list given out in turn (`deno,bun` mixes them).
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import process from "node:process";
import { parseArgs } from "node:util";
import { parseRuntimeName, runArgs, runtimeExecutable } from "./runtime/command.ts";
import { runtime } from "./runtime/current.ts";

const HELP =
  `Usage: deno task cluster [--nodes 3] [--learners 0] [--data-dir ./data] [--fsync always]
                         [--runtime deno|bun|deno,bun]
Starts a local raftkv cluster on 127.0.0.1 (peer ports 7001.., HTTP ports 8001..).
Learners (non-voting read replicas) take the ports after the voters. Ctrl-C stops all.
--runtime defaults to the runtime running this script; a list is given out in turn.`;

interface Member {
  id: string;
  peerAddr: string;
  httpUrl: string;
  learner: boolean;
}

const { values } = parseArgs({
  args: runtime.args,
  options: {
    nodes: { type: "string", default: "3" },
    learners: { type: "string", default: "0" },
    "data-dir": { type: "string", default: "./data" },
    fsync: { type: "string", default: "always" },
    runtime: { type: "string", default: runtime.name },
    help: { type: "boolean", default: false },
  },
});
if (values.help) {
  console.log(HELP);
  runtime.exit(0);
}
/** Decimal digits only (Number() would take "", "0x3" and "3e0"); NaN otherwise. */
function count(text: string): number {
  return /^[0-9]+$/.test(text) ? Number(text) : NaN;
}
const voterCount = count(values.nodes);
const learnerCount = count(values.learners);
if (!Number.isInteger(voterCount) || voterCount < 1 || voterCount > 9) {
  console.error("cluster: --nodes must be 1 to 9");
  runtime.exit(2);
}
if (!Number.isInteger(learnerCount) || learnerCount < 0 || voterCount + learnerCount > 9) {
  console.error("cluster: --learners must be 0 or more, at most 9 nodes in all");
  runtime.exit(2);
}
let runtimes: ReturnType<typeof parseRuntimeName>[];
try {
  runtimes = values.runtime.split(",").map((r) => parseRuntimeName(r.trim()));
} catch (e) {
  console.error(`cluster: --runtime: ${(e as Error).message}`);
  runtime.exit(2);
}

checkDataDirShape(values["data-dir"], voterCount);

/**
 * A data folder remembers how many voters it was started with (`cluster.json`): the
 * voters' membership lives in their data, so starting them with another `--nodes` would
 * leave the extra nodes bootstrapping a cluster of their own, never ready.
 */
function checkDataDirShape(dataDir: string, voters: number): void {
  const shapePath = `${dataDir}/cluster.json`;
  let recorded: number | null = null;
  try {
    recorded = (JSON.parse(runtime.fs.readTextFileSync(shapePath)) as { voters: number }).voters;
  } catch (e) {
    if (!runtime.fs.isNotFound(e)) {
      console.error(`cluster: cannot read ${shapePath}: ${e}`);
      runtime.exit(2);
    }
    // Folders from before cluster.json: fewer n* folders than voters means the old
    // cluster was smaller (more could also be learners, so those pass).
    const existing = existingNodeDirs(dataDir);
    if (existing > 0 && existing < voters) recorded = existing;
  }
  if (recorded !== null && recorded !== voters) {
    console.error(
      `cluster: ${dataDir} holds a cluster of ${recorded} voters, so it cannot start with ` +
        `--nodes ${voters}. Start it with --nodes ${recorded}, or use another --data-dir ` +
        `(or delete ${dataDir}) for a new ${voters}-voter cluster.`,
    );
    runtime.exit(2);
  }
  runtime.fs.mkdirSync(dataDir, { recursive: true });
  runtime.fs.writeTextFileSync(shapePath, JSON.stringify({ voters }) + "\n");
}

function existingNodeDirs(dataDir: string): number {
  try {
    return runtime.fs.readDirSync(dataDir).filter((e) => e.isDirectory && /^n\d+$/.test(e.name))
      .length;
  } catch {
    return 0;
  }
}

const members: Member[] = [];
for (let i = 1; i <= voterCount + learnerCount; i++) {
  members.push({
    id: `n${i}`,
    peerAddr: `127.0.0.1:${7000 + i}`,
    httpUrl: `http://127.0.0.1:${8000 + i}`,
    learner: i > voterCount,
  });
}
const initialCluster = members.filter((m) => !m.learner)
  .map((m) => `${m.id}=${m.peerAddr}@${m.httpUrl}`).join(",");
const mainPath = new URL("./main.ts", import.meta.url).pathname;

const children = new Map<string, { child: ChildProcess; exited: Promise<number | null> }>();
for (const [k, m] of members.entries()) {
  const nodeRuntime = runtimes[k % runtimes.length] ?? runtime.name;
  const args = [
    ...runArgs(nodeRuntime, mainPath),
    "--id",
    m.id,
    "--peer-addr",
    m.peerAddr,
    "--http-addr",
    m.httpUrl.slice("http://".length),
    "--data-dir",
    `${values["data-dir"]}/${m.id}`,
    "--fsync",
    values.fsync,
  ];
  if (m.learner) args.push("--join", members[0]!.httpUrl, "--learner");
  else args.push("--initial-cluster", initialCluster);
  const child = spawn(runtimeExecutable(nodeRuntime), args, {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1" },
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
  children.set(m.id, { child, exited });
  void prefixLines(m.id, child.stdout);
  void prefixLines(m.id, child.stderr);
  void exited.then((code) => {
    if (!stopping) print(`[${m.id}] exited with code ${code}`);
  });
  console.log(
    `${m.id}: ${m.httpUrl}  (peer ${m.peerAddr}, ${nodeRuntime}${m.learner ? ", learner" : ""})`,
  );
}

let stopping = false;
let leader: string | null = null;
const terminal = runtime.stdoutIsTerminal();
const encoder = new TextEncoder();
let statusLine = "";

/** Prints a line above the live status line (which is redrawn below it on a terminal). */
function print(line: string): void {
  if (!terminal) {
    console.log(line);
    return;
  }
  runtime.writeSync(1, encoder.encode(`\r\x1b[2K${line}\n${statusLine}`));
}

/** Replaces the live status line: in place on a terminal, as a new line when it changes otherwise. */
function showStatus(line: string): void {
  if (line === statusLine) return;
  statusLine = line;
  if (terminal) runtime.writeSync(1, encoder.encode(`\r\x1b[2K${line}`));
  else console.log(line);
}

interface ClusterView {
  leader: string | null;
  term: number;
  commitIndex: number;
  members: { id: string; role: string; lag: number | null; reachable: boolean | null }[];
}

const poll = setInterval(async () => {
  for (const m of members) {
    try {
      const res = await fetch(`${m.httpUrl}/v1/cluster`, { signal: AbortSignal.timeout(800) });
      if (!res.ok) {
        await res.body?.cancel();
        continue;
      }
      const view = await res.json() as ClusterView;
      if (view.leader && view.leader !== leader) {
        leader = view.leader;
        print(
          `leader: ${leader} (term ${view.term}) — try: curl -X PUT ${m.httpUrl}/v1/kv/hello -d world`,
        );
      }
      const parts = view.members.map((x) =>
        `${x.id}${x.id === view.leader ? "*" : ""}${x.role === "learner" ? "(learner)" : ""}` +
        (x.reachable === false ? " down" : x.lag ? ` lag ${x.lag}` : " ok")
      );
      showStatus(`[status] term ${view.term} commit ${view.commitIndex} | ${parts.join(" | ")}`);
      return;
    } catch {
      // not up yet, or stopping; try the next member
    }
  }
  showStatus("[status] no leader yet");
}, 1000);

async function stopAll(): Promise<void> {
  if (stopping) return;
  stopping = true;
  clearInterval(poll);
  console.log("stopping all nodes…");
  for (const { child } of children.values()) {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
  }
  await Promise.all([...children.values()].map((c) => c.exited));
  console.log("all nodes stopped");
  runtime.exit(0);
}
runtime.onSignal("SIGINT", stopAll);
runtime.onSignal("SIGTERM", stopAll);

async function prefixLines(id: string, stream: AsyncIterable<Uint8Array> | null): Promise<void> {
  if (stream === null) return;
  let buffered = "";
  const decoder = new TextDecoder();
  for await (const chunk of stream) {
    buffered += decoder.decode(chunk, { stream: true });
    const lines = buffered.split("\n");
    buffered = lines.pop() ?? "";
    for (const line of lines) print(`[${id}] ${humanize(line)}`);
  }
}

function humanize(line: string): string {
  try {
    const { time: _t, level, node: _n, msg, ...fields } = JSON.parse(line);
    const rest = Object.keys(fields).length > 0 ? " " + JSON.stringify(fields) : "";
    return `${String(level).padEnd(5)} ${msg}${rest}`;
  } catch {
    return line;
  }
}
