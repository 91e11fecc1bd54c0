import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import { MemoryStableLog } from "../../src/raft/memory_log.ts";
import { type Entry, EntryType } from "../../src/raft/messages.ts";

function ents(from: number, terms: number[]): Entry[] {
  return terms.map((term, i) => ({
    term,
    index: from + i,
    type: EntryType.Normal,
    data: new Uint8Array(4),
  }));
}

Deno.test("append overwrites the suffix from the first new index", () => {
  const log = new MemoryStableLog();
  log.append(ents(1, [1, 1, 1]));
  log.append(ents(2, [2]));
  assertEquals(log.lastIndex(), 2);
  assertEquals(log.term(2), 2);
  assertEquals(log.term(3), undefined);
  throws(() => log.append(ents(5, [2])), /gap/);
});

Deno.test("compact keeps the snapshot term and conf; applySnapshot restarts the log", () => {
  const conf = { voters: ["a"], learners: [] };
  const log = new MemoryStableLog({ entries: ents(1, [1, 2, 3, 3]) });
  log.compact(2, conf);
  assertEquals(log.firstIndex(), 3);
  assertEquals(log.term(2), 2);
  assertEquals(log.term(1), undefined);
  assertEquals(log.snapshotMeta(), { index: 2, term: 2, conf });
  assertEquals(log.entries(3, 5, 100).map((e) => e.index), [3, 4]);
  assertEquals(log.entries(3, 5, 1).map((e) => e.index), [3], "at least one entry");
  log.applySnapshot({ index: 10, term: 4, conf });
  assertEquals([log.firstIndex(), log.lastIndex(), log.term(10)], [11, 10, 4]);
  assertEquals(log.initialState().conf, conf);
});
