import assert from "node:assert/strict";
import { MessageType } from "../../src/raft/messages.ts";
import { SendQueue } from "../../src/transport/send_queue.ts";

Deno.test("a full send queue drops its oldest message first", () => {
  const q = new SendQueue(3);
  const hb = (context: number) => ({
    type: MessageType.Heartbeat,
    from: "a",
    to: "b",
    term: 1,
    commit: 0,
    context,
  } as const);
  assert.equal(q.push(hb(1)), false);
  q.push(hb(2));
  q.push(hb(3));
  assert.equal(q.push(hb(4)), true);
  const out: number[] = [];
  for (let m = q.shift(); m !== undefined; m = q.shift()) {
    if (m.type === MessageType.Heartbeat) out.push(m.context);
  }
  assert.deepEqual(out, [2, 3, 4]);
});
