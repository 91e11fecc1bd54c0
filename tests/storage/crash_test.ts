import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { openStorage } from "../../src/storage/raft_storage.ts";
import { dataFor, prng, withTempDir } from "./helpers.ts";

const KILLS = 24;
const MAX_ACKS_BEFORE_KILL = 40;
const WRITER = fileURLToPath(new URL("./crash_writer.ts", import.meta.url));
const ROUND_DEADLINE_MS = 30_000;

/** A save of entries [first, last] in `term`, or (install) a log restart after `last`. */
interface Save {
  first: number;
  last: number;
  term: number;
  install: boolean;
}

/** The log's terms from `base`: what the node holds, or would hold after some saves. */
interface LogModel {
  base: number;
  terms: number[];
}

function applySave(m: LogModel, s: Save): LogModel {
  if (s.install) return { base: s.last + 1, terms: [] };
  const terms = m.terms.slice(0, Math.max(0, s.first - m.base));
  for (let i = s.first; i <= s.last; i++) terms.push(s.term);
  return { base: m.terms.length === 0 ? s.first : m.base, terms };
}

/** Reads the child's protocol until `acksBeforeKill` acks, kills it, drains stdout. */
async function runRound(
  child: Deno.ChildProcess,
  acksBeforeKill: number,
): Promise<{ saves: Save[]; acked: number }> {
  const saves: Save[] = [];
  let acked = 0;
  let buffered = "";
  const handle = (line: string) => {
    const f = line.split(" ");
    if (f[0] === "save") {
      assert.equal(Number(f[1]), saves.length, "saves are numbered in order");
      saves.push({ first: Number(f[2]), last: Number(f[3]), term: Number(f[4]), install: false });
    } else if (f[0] === "install") {
      assert.equal(Number(f[1]), saves.length, "ops are numbered in order");
      saves.push({ first: Number(f[2]), last: Number(f[2]), term: Number(f[3]), install: true });
    } else if (f[0] === "ack") {
      assert.equal(Number(f[1]), acked, "saves are acknowledged in order");
      acked++;
    }
  };
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const deadline = Date.now() + ROUND_DEADLINE_MS;
  try {
    let killed = false;
    while (true) {
      assert(Date.now() < deadline, "crash writer made no progress in time");
      if (!killed && acked >= acksBeforeKill) {
        child.kill("SIGKILL");
        killed = true;
      }
      const { value, done } = await reader.read();
      if (done) break;
      buffered += value;
      const lines = buffered.split("\n");
      buffered = lines.pop() ?? "";
      lines.forEach(handle);
    }
    assert(killed, "crash writer exited by itself");
    return { saves, acked };
  } finally {
    reader.releaseLock();
  }
}

Deno.test("after SIGKILL at random moments the log is every acked save plus a prefix of the rest", async () => {
  const seed = Number(Deno.env.get("CRASH_SEED") ?? Date.now() % 1_000_000);
  const rand = prng(seed);
  await withTempDir(async (dir) => {
    let model: LogModel = { base: 1, terms: [] };
    let totalAcked = 0;
    for (let round = 0; round < KILLS; round++) {
      const msg = `round ${round}, rerun with CRASH_SEED=${seed}`;
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", WRITER, dir, String(seed * 100 + round)],
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      let outcome;
      try {
        outcome = await runRound(child, 1 + Math.floor(rand() * MAX_ACKS_BEFORE_KILL));
      } catch (e) {
        throw new Error(`${msg}: ${e}`);
      } finally {
        try {
          child.kill("SIGKILL");
        } catch { /* already dead */ }
        await child.status;
      }
      totalAcked += outcome.acked;
      const s = await openStorage(dir, { fsync: "never" });
      try {
        const recovered: LogModel = { base: s.firstIndex(), terms: [] };
        for (let i = s.firstIndex(); i <= s.lastIndex(); i++) {
          recovered.terms.push(s.term(i) ?? -1);
        }
        // Candidates: the acked saves applied, then 0, 1, 2... of the unacked ones.
        let candidate = outcome.saves.slice(0, outcome.acked).reduce(applySave, model);
        const candidates = [candidate];
        for (const save of outcome.saves.slice(outcome.acked)) {
          candidate = applySave(candidate, save);
          candidates.push(candidate);
        }
        const matches = candidates.some((c) => sameFrom(c, recovered));
        assert(matches, `recovered log matches no acked+prefix candidate (${msg})`);
        for (let i = s.firstIndex(); i <= s.lastIndex();) {
          for (const e of s.entries(i, s.lastIndex() + 1, 1 << 20)) {
            assert.equal(e.index, i, msg);
            assert.deepEqual(Uint8Array.from(e.data), dataFor(i, e.term, e.data.length), msg);
            i++;
          }
        }
        model = recovered;
      } finally {
        await s.close();
      }
    }
    assert(totalAcked >= KILLS, `only ${totalAcked} acks in ${KILLS} rounds`);
  });
});

/** Same last index, and the same terms wherever both logs hold an entry. */
function sameFrom(candidate: LogModel, recovered: LogModel): boolean {
  const lastC = candidate.base + candidate.terms.length - 1;
  const lastR = recovered.base + recovered.terms.length - 1;
  if (lastC !== lastR || recovered.base < candidate.base) return false;
  if (candidate.terms.length === 0 && recovered.base !== candidate.base) return false;
  for (let i = recovered.base; i <= lastR; i++) {
    if (candidate.terms[i - candidate.base] !== recovered.terms[i - recovered.base]) return false;
  }
  return true;
}
