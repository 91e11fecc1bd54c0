/**
 * Oversized uploads against a live 3-node cluster: a 100 MiB body, chunked or declared,
 * sent to the leader and to a follower (which reads a write's body before forwarding
 * it), is refused with 413 JSON and the node stops reading near the 1 MiB value limit.
 *
 * @module
 */

import assert from "node:assert/strict";
import { TestCluster } from "../integration/harness.ts";
import {
  ADMIN_TOKEN,
  assertAllAlive,
  assertServesWrites,
  AUTH_FLAGS,
  httpPort,
  RW_TOKEN,
  unexpectedHttpErrors,
} from "./live_checks.ts";
import { bodyText, bytesReadBeforeRefusal, floodBody, isJsonError } from "./raw_http.ts";

const MIB = 1024 * 1024;
/** What an upload is allowed to push before the node stops reading: the value limit,
 * the runtime's read-ahead and the kernel's socket buffers on both ends (measured
 * 3.75 MiB for a socket nobody reads), with room to spare. */
const MAX_ACCEPTED_BYTES = 40 * MIB;

Deno.test("a 100 MiB upload to a leader or a follower is refused and cut off near the limit", async () => {
  const cluster = await TestCluster.start(3, AUTH_FLAGS, { token: ADMIN_TOKEN });
  try {
    const leader = await cluster.leader();
    const follower = cluster.nodes.find((n) => n !== leader);
    assert(follower !== undefined);
    for (const [role, node] of [["leader", leader], ["follower", follower]] as const) {
      for (const chunked of [true, false]) {
        const framing = chunked ? "Transfer-Encoding: chunked" : `Content-Length: ${100 * MIB}`;
        const head =
          `PUT /v1/kv/huge HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ${RW_TOKEN}\r\n` +
          `${framing}\r\n\r\n`;
        const { writtenBytes, outcome } = await floodBody(httpPort(node), head, 100 * MIB, {
          chunked,
        });
        assert(outcome.kind === "response", `${role}: ${JSON.stringify(outcome)}`);
        const res = outcome.response;
        console.log(
          `100 MiB ${chunked ? "chunked" : "declared"} upload to the ${role}: 413 after the app ` +
            `read ${bytesReadBeforeRefusal(res) ?? 0} bytes; the client could push ` +
            `${(writtenBytes / MIB).toFixed(1)} MiB (socket buffers included)`,
        );
        assert.equal(res.status, 413, bodyText(res));
        assert(isJsonError(res));
        assert(writtenBytes < MAX_ACCEPTED_BYTES, `${role} kept reading: ${writtenBytes} bytes`);
      }
    }
    const res = await cluster.fetch(`${leader.httpUrl}/v1/kv/huge`);
    await res.body?.cancel();
    assert.equal(res.status, 404, "nothing was written");
    await assertAllAlive(cluster);
    await assertServesWrites(cluster, "after-oversize");
    assert.deepEqual(unexpectedHttpErrors(cluster), []);
  } finally {
    await cluster.stop();
  }
});
