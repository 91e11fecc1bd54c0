import assert from "node:assert/strict";
import {
  fromJsonLines,
  HistoryBuilder,
  HistoryRecorder,
  loadHistory,
  randomHistory,
  saveHistory,
  toJsonLines,
  validateHistory,
} from "./history.ts";
import { checkHistory } from "./linearizability.ts";

Deno.test("a history survives a JSON-lines round trip, unknown outcomes included", () => {
  const history = new HistoryBuilder()
    .put(1, "k", "a", [0, 10])
    .cas(2, "k", null, "b", [5, 15], false)
    .delete(3, "k", [20, null])
    .get(1, "k", [30, 40], "a")
    .build();
  const text = toJsonLines(history);
  assert.equal(text.split("\n").filter((l) => l !== "").length, 4);
  assert.deepEqual(fromJsonLines(text), history);
});

Deno.test("saveHistory writes an artifact that loadHistory reads back", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const history = randomHistory({ seed: 3, clients: 3, opsPerClient: 20, keys: 2 });
    const path = `${dir}/history.jsonl`;
    await saveHistory(path, history);
    assert.deepEqual(await loadHistory(path), history);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the recorder stamps call and return times and leaves open requests unknown", () => {
  let now = 100;
  const rec = new HistoryRecorder(() => now++);
  const put = rec.invoke(1, { op: "put", key: "k", value: "a" });
  const get = rec.invoke(2, { op: "get", key: "k" });
  const lost = rec.invoke(3, { op: "delete", key: "k" });
  const open = rec.invoke(4, { op: "put", key: "k", value: "b" });
  rec.complete(put, { ok: true });
  rec.complete(get, { value: "a" });
  rec.unknown(lost);
  const history = rec.history();
  assert.deepEqual(history.map((op) => [op.id, op.call, op.ret]), [
    [put, 100, 104],
    [get, 101, 105],
    [lost, 102, null],
    [open, 103, null],
  ]);
  assert.equal(history[2]?.output, null);
  assert.throws(() => rec.complete(put, { ok: true }), /already completed/);
  assert.equal(checkHistory(history).ok, true);
});

Deno.test("malformed histories are rejected as harness bugs", () => {
  const ok = new HistoryBuilder().put(1, "k", "a", [0, 10]).build();
  const base = ok[0];
  assert(base !== undefined);
  assert.throws(() => validateHistory([base, base]), /duplicate/);
  assert.throws(() => validateHistory([{ ...base, ret: -1 }]), /before it was called/);
  assert.throws(() => validateHistory([{ ...base, output: null }]), /needs an output/);
  assert.throws(() => validateHistory([{ ...base, ret: null }]), /no output/);
  assert.throws(() => validateHistory([{ ...base, output: { value: "a" } }]), /does not fit/);
});

Deno.test("random histories are deterministic per seed and respect client order", () => {
  const options = { seed: 11, clients: 4, opsPerClient: 50, keys: 3 };
  const history = randomHistory(options);
  assert.deepEqual(randomHistory(options), history);
  assert.notDeepEqual(randomHistory({ ...options, seed: 12 }), history);
  assert.equal(history.length, 200);
  for (let client = 0; client < 4; client++) {
    const mine = history.filter((op) => op.client === client);
    for (let i = 1; i < mine.length; i++) {
      const prev = mine[i - 1];
      const op = mine[i];
      assert(prev !== undefined && op !== undefined);
      // A client sends its next request only after the previous one ended (or was given up).
      assert(op.call > (prev.ret ?? prev.call));
    }
  }
});
