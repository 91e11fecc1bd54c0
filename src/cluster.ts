/**
 * `deno task cluster`: a local cluster in one command, no configuration. Starts voters
 * n1..nN (peer ports 7001.., HTTP 8001.., data under ./data/), prints each node's URL
 * and the leader once elected, and stops every node cleanly on Ctrl-C.
 *
 * @module
 */

import { parseArgs } from "node:util";

const HELP =
  `Usage: deno task cluster [--nodes 3] [--learners 0] [--data-dir ./data] [--fsync always]
Starts a local raftkv cluster on 127.0.0.1 (peer ports 7001.., HTTP ports 8001..).
Learners (non-voting read replicas) take the ports after the voters. Ctrl-C stops all.`;

interface Member {
  id: string;
  peerAddr: string;
  httpUrl: string;
  learner: boolean;
}

const { values } = parseArgs({
  args: Deno.args,
  options: {
    nodes: { type: "string", default: "3" },
    learners: { type: "string", default: "0" },
    "data-dir": { type: "string", default: "./data" },
    fsync: { type: "string", default: "always" },
    help: { type: "boolean", default: false },
  },
});
if (values.help) {
  console.log(HELP);
  Deno.exit(0);
}
const voterCount = Number(values.nodes);
const learnerCount = Number(values.learners);
if (!Number.isInteger(voterCount) || voterCount < 1 || voterCount > 9) {
  console.error("cluster: --nodes must be 1 to 9");
  Deno.exit(2);
}
if (!Number.isInteger(learnerCount) || learnerCount < 0 || voterCount + learnerCount > 9) {
  console.error("cluster: --learners must be 0 or more, at most 9 nodes in all");
  Deno.exit(2);
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
    recorded = (JSON.parse(Deno.readTextFileSync(shapePath)) as { voters: number }).voters;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) {
      console.error(`cluster: cannot read ${shapePath}: ${e}`);
      Deno.exit(2);
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
    Deno.exit(2);
  }
  Deno.mkdirSync(dataDir, { recursive: true });
  Deno.writeTextFileSync(shapePath, JSON.stringify({ voters }) + "\n");
}

function existingNodeDirs(dataDir: string): number {
  try {
    return [...Deno.readDirSync(dataDir)].filter((e) => e.isDirectory && /^n\d+$/.test(e.name))
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

const children = new Map<string, Deno.ChildProcess>();
for (const m of members) {
  const args = [
    "run",
    "-A",
    mainPath,
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
  const child = new Deno.Command(Deno.execPath(), {
    args,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  children.set(m.id, child);
  void prefixLines(m.id, child.stdout);
  void prefixLines(m.id, child.stderr);
  void child.status.then((s) => {
    if (!stopping) print(`[${m.id}] exited with code ${s.code}`);
  });
  console.log(`${m.id}: ${m.httpUrl}  (peer ${m.peerAddr}${m.learner ? ", learner" : ""})`);
}

let stopping = false;
let leader: string | null = null;
const terminal = Deno.stdout.isTerminal();
const encoder = new TextEncoder();
let statusLine = "";

/** Prints a line above the live status line (which is redrawn below it on a terminal). */
function print(line: string): void {
  if (!terminal) {
    console.log(line);
    return;
  }
  Deno.stdout.writeSync(encoder.encode(`\r\x1b[2K${line}\n${statusLine}`));
}

/** Replaces the live status line: in place on a terminal, as a new line when it changes otherwise. */
function showStatus(line: string): void {
  if (line === statusLine) return;
  statusLine = line;
  if (terminal) Deno.stdout.writeSync(encoder.encode(`\r\x1b[2K${line}`));
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
  for (const child of children.values()) {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
  }
  await Promise.all([...children.values()].map((c) => c.status));
  console.log("all nodes stopped");
  Deno.exit(0);
}
Deno.addSignalListener("SIGINT", stopAll);
Deno.addSignalListener("SIGTERM", stopAll);

async function prefixLines(id: string, stream: ReadableStream<Uint8Array>): Promise<void> {
  let buffered = "";
  for await (const text of stream.pipeThrough(new TextDecoderStream())) {
    buffered += text;
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
