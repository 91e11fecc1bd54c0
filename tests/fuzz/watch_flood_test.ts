/**
 * A flood of watch streams on a live node: past the node's cap (maxWatchers, 1000 as
 * main.ts configures it) a watch answers 429 JSON, and slots held by clients that
 * vanish without a goodbye come back, so the cap can be filled again.
 *
 * @module
 */

import assert from "node:assert/strict";
import { TestCluster, type TestNode, waitFor } from "../integration/harness.ts";
import {
  ADMIN_TOKEN,
  assertAllAlive,
  assertServesWrites,
  AUTH_FLAGS,
  httpPort,
  RW_TOKEN,
  unexpectedHttpErrors,
} from "./live_checks.ts";
import { bodyText, isJsonError, type RawOutcome, readResponse, writeAll } from "./raw_http.ts";

/** The per-node watch cap main.ts gives createApp (DEFAULT_MAX_WATCHERS). */
const NODE_MAX_WATCHERS = 1000;
/** Streams opened and dropped abruptly before the cap is filled. */
const DROPPED_STREAMS = 200;

const encoder = new TextEncoder();

/** Opens a watch stream; resolves with its socket (still open) and the answer's head. */
async function openWatch(port: number): Promise<{ conn: Deno.Conn; outcome: RawOutcome }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await writeAll(
    conn,
    encoder.encode(
      `GET /v1/watch?prefix=flood/ HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ${RW_TOKEN}\r\n\r\n`,
    ),
  );
  return { conn, outcome: await readResponse(conn, Date.now() + 10_000, true) };
}

function statusOf(outcome: RawOutcome): number | string {
  return outcome.kind === "response" ? outcome.response.status : outcome.kind;
}

function closeAll(conns: Deno.Conn[]): void {
  for (const conn of conns.splice(0)) {
    try {
      conn.close();
    } catch { /* already closed */ }
  }
}

/** Opens streams until `count` are open, retrying 429s (slots of dropped clients come back asynchronously). */
async function fillTo(node: TestNode, count: number, open: Deno.Conn[]): Promise<number> {
  let refusals = 0;
  await waitFor(
    `${count} open watches on ${node.id}`,
    async () => {
      while (open.length < count) {
        const { conn, outcome } = await openWatch(httpPort(node));
        if (statusOf(outcome) === 200) {
          open.push(conn);
          continue;
        }
        conn.close();
        assert.equal(statusOf(outcome), 429, `unexpected answer ${JSON.stringify(outcome)}`);
        refusals++;
        return undefined;
      }
      return true;
    },
    20_000,
    100,
  );
  return refusals;
}

/** Asserts one more watch is refused with a 429 JSON error. */
async function assertCapped(node: TestNode): Promise<void> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: httpPort(node) });
  try {
    await writeAll(
      conn,
      encoder.encode(
        `GET /v1/watch HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ${RW_TOKEN}\r\n\r\n`,
      ),
    );
    const outcome = await readResponse(conn, Date.now() + 10_000, false);
    assert(outcome.kind === "response", JSON.stringify(outcome));
    assert.equal(outcome.response.status, 429, bodyText(outcome.response));
    assert(isJsonError(outcome.response));
  } finally {
    conn.close();
  }
}

Deno.test("watches past the node's cap answer 429, and abruptly dropped streams give their slots back", async () => {
  const cluster = await TestCluster.start(3, AUTH_FLAGS, { token: ADMIN_TOKEN });
  const open: Deno.Conn[] = [];
  try {
    const node = cluster.nodes.find((n) => n.process !== null);
    assert(node !== undefined);
    for (let i = 0; i < DROPPED_STREAMS; i++) {
      const { conn, outcome } = await openWatch(httpPort(node));
      open.push(conn);
      assert.equal(statusOf(outcome), 200);
    }
    closeAll(open); // 200 clients vanish mid-stream
    const started = performance.now();
    const refusals = await fillTo(node, NODE_MAX_WATCHERS, open);
    console.log(
      `after ${DROPPED_STREAMS} dropped streams, ${NODE_MAX_WATCHERS} watches open again in ` +
        `${(performance.now() - started).toFixed(0)} ms (${refusals} 429s while slots came back)`,
    );
    await assertCapped(node);
    await assertServesWrites(cluster, "flood/at-cap"); // the cap blocks watches, not writes
    closeAll(open); // all of them vanish
    await fillTo(node, NODE_MAX_WATCHERS, open);
    await assertCapped(node);
    closeAll(open);
    await assertAllAlive(cluster);
    assert.deepEqual(unexpectedHttpErrors(cluster), []);
  } finally {
    closeAll(open);
    await cluster.stop();
  }
});
