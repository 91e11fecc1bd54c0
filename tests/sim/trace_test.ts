import assert from "node:assert/strict";
import { MessageType } from "../../src/raft/messages.ts";
import { formatMessage, Trace, TRACE_RING_LINES } from "./trace.ts";

Deno.test("trace formats an append with its entries and commit", () => {
  const line = formatMessage({
    type: MessageType.Append,
    from: "n1",
    to: "n2",
    term: 3,
    prevIndex: 5,
    prevTerm: 2,
    entries: [{ index: 6, term: 3, type: 0, data: new TextEncoder().encode("w1.2") }],
    commit: 5,
  });
  assert.equal(line, "n1→n2 Append t3 prev=5@2 [6@3 w1.2] c5");
});

Deno.test("trace keeps only the last lines, formatted lazily, oldest first", () => {
  const printed: string[] = [];
  const t = new Trace(false, (l) => printed.push(l));
  let formatted = 0;
  for (let i = 0; i < TRACE_RING_LINES + 10; i++) {
    t.add({ step: i, atMs: i, node: "n1", what: () => `line ${i} ${++formatted}` });
  }
  assert.equal(formatted, 0);
  const tail = t.tail();
  assert.equal(tail.length, TRACE_RING_LINES);
  assert.match(tail[0] as string, /^#10 t=10ms n1 +line 10/);
  assert.equal(printed.length, 0);
});

Deno.test("verbose trace prints every line as it happens", () => {
  const printed: string[] = [];
  const t = new Trace(true, (l) => printed.push(l));
  t.add({ step: 1, atMs: 0, node: "n2", what: "tick" });
  assert.deepEqual(printed, ["#1 t=0ms n2  tick"]);
});
