import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { openStorage } from "../../src/storage/raft_storage.ts";
import { dataFor, prng, withTempDir } from "./helpers.ts";

const KILLS = 24;
const WRITER = fileURLToPath(new URL("./crash_writer.ts", import.meta.url));
const LINE_DEADLINE_MS = 30_000;

/** Reads lines until `acksBeforeKill` acks arrived, kills the child, returns the last ack. */
async function runUntil(child: Deno.ChildProcess, acksBeforeKill: number): Promise<number> {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  let acks = 0;
  let lastAck = 0;
  const deadline = Date.now() + LINE_DEADLINE_MS;
  try {
    while (acks < acksBeforeKill) {
      assert(Date.now() < deadline, "crash writer produced no acks in time");
      const { value, done } = await reader.read();
      assert(!done, "crash writer exited by itself");
      buffered += value;
      const lines = buffered.split("\n");
      buffered = lines.pop() ?? "";
      for (const line of lines) {
        const [kind, n] = line.split(" ");
        if (kind === "ack") {
          lastAck = Math.max(lastAck, Number(n));
          acks++;
        }
      }
    }
    child.kill("SIGKILL");
    // Acks already printed before the kill landed are acknowledged too.
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      buffered += value;
    }
    for (const line of buffered.split("\n")) {
      const [kind, n] = line.split(" ");
      if (kind === "ack") lastAck = Math.max(lastAck, Number(n));
    }
    return lastAck;
  } finally {
    reader.releaseLock();
  }
}

Deno.test("every acknowledged entry survives SIGKILL at random moments", async () => {
  const seed = Number(Deno.env.get("CRASH_SEED") ?? Date.now() % 1_000_000);
  const rand = prng(seed);
  await withTempDir(async (dir) => {
    let acknowledged = 0;
    for (let round = 0; round < KILLS; round++) {
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", WRITER, dir, String(seed * 100 + round)],
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      try {
        const target = 1 + Math.floor(rand() * 40);
        acknowledged = Math.max(acknowledged, await runUntil(child, target));
      } catch (e) {
        throw new Error(`crash test failed in round ${round} (CRASH_SEED=${seed}): ${e}`);
      } finally {
        try {
          child.kill("SIGKILL");
        } catch { /* already dead */ }
        await child.status;
      }
      const s = await openStorage(dir, { fsync: "never" });
      try {
        const msg = `round ${round}, CRASH_SEED=${seed}`;
        assert(s.lastIndex() >= acknowledged, `lost acked entries (${msg})`);
        assert(s.initialState().hardState.commit >= acknowledged, `lost hard state (${msg})`);
        for (let i = s.firstIndex(); i <= acknowledged;) {
          for (const e of s.entries(i, acknowledged + 1, 1 << 20)) {
            assert.equal(e.index, i, msg);
            assert.equal(e.term, 1, msg);
            assert.deepEqual(Uint8Array.from(e.data), dataFor(i, 1, e.data.length), msg);
            i++;
          }
        }
        assert(s.firstIndex() <= Math.max(1, s.snapshotMeta().index + 1), msg);
      } finally {
        await s.close();
      }
    }
    assert(acknowledged > 0);
  });
});
