/**
 * Hostile input at the HTTP front door: every refusal is a JSON error (or, for
 * requests the runtime's parser refuses before the app runs, a bare 400), and none
 * touches the data. Runs the real app under Deno.serve on 127.0.0.1 over a fake node,
 * so socket-level behaviour (chunked uploads, repeated headers) is the real runtime's.
 *
 * @module
 */

import assert from "node:assert/strict";
import { BODY_READ_TIMEOUT_MS, declaredLength, readBodyLimited } from "../../src/http/body.ts";
import { RaftkvError } from "../../src/errors.ts";
import {
  bodyText,
  bytesReadBeforeRefusal,
  floodBody,
  isJsonError,
  isRuntimeRefusal,
  rawExchange,
  type RawOutcome,
  type RawResponse,
} from "../fuzz/raw_http.ts";
import { setup, TEST_OPTIONS } from "./helpers.ts";
import { FakeNode } from "./fake_node.ts";
import { createApp, LEADER_HEADER } from "../../src/http/app.ts";
import type { ApplyResult, KvCommand } from "../../src/kv/types.ts";

const MIB = 1024 * 1024;

/** Serves a fresh app over a fake node on a loopback port for the length of `body`. */
async function withServer(
  body: (port: number, node: FakeNode) => Promise<void>,
  maxValueBytes = TEST_OPTIONS.maxValueBytes,
): Promise<void> {
  const { node, app } = setup({ maxValueBytes });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
  try {
    await body(server.addr.port, node);
  } finally {
    await server.shutdown();
  }
}

function responseOf(outcome: RawOutcome): RawResponse {
  assert.equal(outcome.kind, "response", `expected an answer, got ${JSON.stringify(outcome)}`);
  assert(outcome.kind === "response");
  return outcome.response;
}

/** Sends one raw request; asserts a JSON error with `status` came back. */
async function expectJsonError(port: number, request: string, status: number): Promise<string> {
  const res = responseOf(await rawExchange(port, request, { timeoutMs: 5000 }));
  assert.equal(res.status, status, `${JSON.stringify(request.slice(0, 80))}: ${bodyText(res)}`);
  assert(isJsonError(res), `not a JSON error: ${bodyText(res)}`);
  return (JSON.parse(bodyText(res)) as { error: { message: string } }).error.message;
}

function get(path: string, headers = ""): string {
  return `GET ${path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n${headers}\r\n`;
}

function putRaw(path: string, body: string, headers = ""): string {
  return `PUT ${path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: ${body.length}\r\n${headers}\r\n${body}`;
}

Deno.test("a 100 MiB chunked upload is cut off near the limit: the server stops reading", async () => {
  await withServer(async (port, node) => {
    const head = "PUT /v1/kv/big HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
    const { writtenBytes, outcome } = await floodBody(port, head, 100 * MIB, { chunked: true });
    const res = responseOf(outcome);
    assert.equal(res.status, 413);
    assert(isJsonError(res));
    const readBytes = bytesReadBeforeRefusal(res);
    console.log(
      `100 MiB chunked upload, 1 MiB limit: the app read ${readBytes} bytes; the client could ` +
        `write ${(writtenBytes / MIB).toFixed(1)} MiB (kernel socket buffers included) ` +
        "before the server hung up",
    );
    assert(readBytes !== null && readBytes <= MIB + 64 * 1024 + 16, `read ${readBytes}`);
    assert(writtenBytes < 40 * MIB, `the server kept reading: ${writtenBytes} bytes accepted`);
    assert.equal(node.keys.has("big"), false);
  }, MIB);
});

Deno.test("a declared 100 MiB body is refused with 413 at once, and the server stops reading", async () => {
  await withServer(async (port, node) => {
    // Headers only: the verdict comes without waiting for a byte of the body.
    const request = `PUT /v1/kv/big HTTP/1.1\r\nHost: t\r\nContent-Length: ${100 * MIB}\r\n\r\n`;
    const res = responseOf(await rawExchange(port, request, { timeoutMs: 5000 }));
    assert.equal(res.status, 413);
    assert(isJsonError(res));
    // The body pushed anyway: the runtime must not drain all of it.
    const { writtenBytes, outcome } = await floodBody(port, request, 100 * MIB, { chunked: false });
    console.log(
      `declared 100 MiB body pushed anyway: the client could write ` +
        `${(writtenBytes / MIB).toFixed(1)} MiB (kernel socket buffers included)`,
    );
    assert.equal(responseOf(outcome).status, 413);
    assert(writtenBytes < 40 * MIB, `the server kept reading: ${writtenBytes} bytes accepted`);
    assert.equal(node.keys.has("big"), false);
  });
});

Deno.test("Expect: 100-continue with an oversize body: 413, and the upload the runtime invites is cut off", async () => {
  await withServer(async (port, node) => {
    // Deno.serve answers "100 Continue" by itself, before the app decides, so a client
    // that waits for it still starts sending; the server must stop reading anyway.
    const request = `PUT /v1/kv/big HTTP/1.1\r\nHost: t\r\nContent-Length: ${100 * MIB}\r\n` +
      "Expect: 100-continue\r\n\r\n";
    const { writtenBytes, outcome } = await floodBody(port, request, 100 * MIB, { chunked: false });
    const res = responseOf(outcome);
    assert.equal(res.status, 413);
    assert(isJsonError(res));
    assert(writtenBytes < 40 * MIB, `the server kept reading: ${writtenBytes} bytes accepted`);
    assert.equal(node.keys.has("big"), false);
  });
});

Deno.test("a body dripped slower than the deadline is abandoned with a 400 naming the deadline", async () => {
  let sent = 0;
  let timer: ReturnType<typeof setInterval> | undefined;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      timer = setInterval(() => {
        sent++;
        controller.enqueue(new Uint8Array([0x61]));
      }, 20);
    },
    cancel() {
      clearInterval(timer);
    },
  });
  const request = new Request("http://t/v1/kv/slow", { method: "PUT", body });
  try {
    await assert.rejects(
      readBodyLimited(request, 1024, { timeoutMs: 300 }),
      (e) =>
        e instanceof RaftkvError && e.code === "bad_request" && /within 300 ms/.test(e.message),
    );
    assert(sent < 100, "the read stopped at the deadline");
  } finally {
    clearInterval(timer);
  }
  assert.equal(BODY_READ_TIMEOUT_MS, 10_000);
});

Deno.test("a broken chunked encoding answers 400 (or a hang-up), never a logged 500", async () => {
  const logged: unknown[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => logged.push(args);
  try {
    await withServer(async (port, node) => {
      const request = "PUT /v1/kv/x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" +
        "3\r\nabc\r\nzz\r\nnot hex\r\n0\r\n\r\n";
      const outcome = await rawExchange(port, request, { timeoutMs: 5000 });
      if (outcome.kind === "response") {
        assert.equal(outcome.response.status, 400);
        assert(isJsonError(outcome.response));
      }
      assert.equal(node.keys.has("x"), false);
    });
  } finally {
    console.error = original;
  }
  assert.deepEqual(logged, []);
});

Deno.test("repeated identical Content-Length headers are one length; differing ones are refused", async () => {
  assert.equal(declaredLength("5, 5"), 5);
  assert.throws(() => declaredLength("5, 6"), /one valid length/);
  assert.throws(() => declaredLength("-1"), /one valid length/);
  assert.throws(() => declaredLength("1e3"), /one valid length/);
  await withServer(async (port, node) => {
    const same = "PUT /v1/kv/x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n" +
      "Content-Length: 2\r\nContent-Length: 2\r\n\r\nab";
    assert.equal(responseOf(await rawExchange(port, same, { timeoutMs: 5000 })).status, 200);
    assert.equal(new TextDecoder().decode(node.keys.get("x")?.value), "ab");
    const differ = "PUT /v1/kv/y HTTP/1.1\r\nHost: t\r\nConnection: close\r\n" +
      "Content-Length: 1\r\nContent-Length: 2\r\n\r\nab";
    const res = responseOf(await rawExchange(port, differ, { timeoutMs: 5000 }));
    assert.equal(res.status, 400);
    assert(isRuntimeRefusal(res, LEADER_HEADER), "the runtime refuses it before the app");
    assert.equal(node.keys.has("y"), false);
  });
});

Deno.test("invalid UTF-8, overlong forms, surrogates and NUL in keys answer 400 JSON", async () => {
  await withServer(async (port, node) => {
    for (
      const raw of [
        "%FF",
        "%C0%AF", // overlong "/"
        "%E0%80%80", // overlong NUL
        "%C0%80", // "modified UTF-8" NUL
        "%ED%A0%80", // a UTF-16 surrogate encoded as UTF-8
        "%F4%90%80%80", // past U+10FFFF
        "a%2", // truncated escape
        "a%zz",
        "a%00b", // NUL
        "%00",
      ]
    ) {
      await expectJsonError(port, putRaw(`/v1/kv/${raw}`, "v"), 400);
      await expectJsonError(port, get(`/v1/kv/${raw}`), 400);
    }
    // Raw (unencoded) bytes ≥ 0x80 in the request target.
    const rawBytes = new Uint8Array([
      ...new TextEncoder().encode("GET /v1/kv/"),
      0xff,
      0xfe,
      ...new TextEncoder().encode(" HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"),
    ]);
    const res = responseOf(await rawExchange(port, rawBytes, { timeoutMs: 5000 }));
    assert(res.status === 400 || res.status === 404, `raw bytes: ${res.status}`);
    assert(isJsonError(res) || isRuntimeRefusal(res, LEADER_HEADER));
    assert.equal(node.keys.size, 0);
  });
});

Deno.test("query values that are malformed, out of range, repeated or undecodable answer 400", async () => {
  await withServer(async (port, node) => {
    for (
      const query of [
        "ttl=-1",
        "ttl=0",
        "ttl=1e3",
        "ttl=0x10",
        "ttl=%31%30%30%30%30%30%30%30%30%30%30", // 10^10 s, past the cap
        "ttl=99999999999999999999",
        "ttl=",
        "ttl=1&ttl=2",
        "ttl=%FF",
      ]
    ) {
      await expectJsonError(port, putRaw(`/v1/kv/k?${query}`, "v"), 400);
    }
    for (
      const query of [
        "limit=0",
        "limit=1001",
        "limit=abc",
        "limit=1&limit=2",
        "consistency=STALE",
        "consistency=",
        "consistency=stale&consistency=lease",
        "prefix=%FF",
        "prefix=a%00",
        "prefix=a&prefix=b",
        "after=%C0%AF",
        "%ZZ=1",
      ]
    ) {
      await expectJsonError(port, get(`/v1/kv?${query}`), 400);
    }
    for (
      const query of [
        "fromRevision=-1",
        "fromRevision=1.5",
        "fromRevision=99999999999999999",
        "fromRevision=1&fromRevision=2",
        "wait=yes",
        "timeout=0",
        "timeout=301",
        "prefix=%E0%80%80",
      ]
    ) {
      await expectJsonError(port, get(`/v1/watch?${query}`), 400);
    }
    assert.equal(node.keys.size, 0);
    assert.equal(node.activeWatches, 0);
  });
});

Deno.test("a prefix delete with an undecodable prefix deletes nothing (no literal %XX match)", async () => {
  await withServer(async (port, node) => {
    // The key "%FFa" really exists: a lenient decoder would read prefix=%FF as "%FF".
    assert.equal(
      responseOf(
        await rawExchange(port, putRaw("/v1/kv/%25FFa", "v"), {
          timeoutMs: 5000,
        }),
      ).status,
      200,
    );
    assert(node.keys.has("%FFa"));
    const request = "DELETE /v1/kv?prefix=%FF HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    await expectJsonError(port, request, 400);
    assert(node.keys.has("%FFa"), "the key survived");
    const twice = "DELETE /v1/kv?prefix=x&prefix= HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    assert.match(await expectJsonError(port, twice, 400), /only once/);
    assert(node.keys.has("%FFa"));
  });
});

Deno.test("two If-Match headers, or If-Match with If-None-Match, answer 400 and write nothing", async () => {
  await withServer(async (port, node) => {
    await expectJsonError(port, putRaw("/v1/kv/a", "v", 'If-Match: "0"\r\nIf-Match: "5"\r\n'), 400);
    await expectJsonError(
      port,
      putRaw("/v1/kv/a", "v", 'If-Match: "0"\r\nIf-None-Match: *\r\n'),
      400,
    );
    await expectJsonError(
      port,
      `DELETE /v1/kv/a HTTP/1.1\r\nHost: t\r\nConnection: close\r\nIf-Match: "1"\r\nIf-Match: "1"\r\n\r\n`,
      400,
    );
    await expectJsonError(port, get("/v1/watch", "Last-Event-ID: 1\r\nLast-Event-ID: 2\r\n"), 400);
    assert.equal(node.keys.size, 0);
  });
});

Deno.test("a percent-encoded route segment reaches the same key as the plain route", async () => {
  await withServer(async (port, node) => {
    const res = responseOf(
      await rawExchange(port, putRaw("/v1/%6Bv/x%2Fy", "v"), {
        timeoutMs: 5000,
      }),
    );
    assert.equal(res.status, 200, bodyText(res));
    assert(node.keys.has("x/y"));
    // Dot segments are resolved by URL parsing before routing: /v1/kv/a/../b is key "b".
    assert.equal(
      responseOf(await rawExchange(port, putRaw("/v1/kv/a/../b", "v"), { timeoutMs: 5000 }))
        .status,
      200,
    );
    assert(node.keys.has("b") && !node.keys.has("a/../b"));
  });
});

Deno.test("the runtime refuses huge header blocks and request lines with a bare 400; the app keeps serving", async () => {
  await withServer(async (port) => {
    const many = Array.from({ length: 1000 }, (_, i) => `X-H${i}: v\r\n`).join("");
    const bigValue = `X-Big: ${"v".repeat(512 * 1024)}\r\n`;
    const longPath = `/v1/kv/${"a".repeat(1024 * 1024)}`;
    for (const request of [get("/health", many), get("/health", bigValue), get(longPath)]) {
      const res = responseOf(await rawExchange(port, request, { timeoutMs: 5000 }));
      assert.equal(res.status, 400);
      assert(isRuntimeRefusal(res, LEADER_HEADER));
      const ok = responseOf(await rawExchange(port, get("/health"), { timeoutMs: 5000 }));
      assert.equal(ok.status, 200);
    }
  });
});

/** A fake node that, like the real store, answers a reused Idempotency-Key with its first result. */
class DedupingNode extends FakeNode {
  readonly #first = new Map<string, ApplyResult>();

  override async write(
    command: KvCommand,
    options: { idempotencyKey: string | null; signal: AbortSignal },
  ): Promise<ApplyResult> {
    const key = options.idempotencyKey;
    const remembered = key === null ? undefined : this.#first.get(key);
    if (remembered !== undefined) return remembered;
    const result = await super.write(command, options);
    if (key !== null) this.#first.set(key, result);
    return result;
  }
}

Deno.test("an Idempotency-Key reused for a different write answers 409 conflict, not 500", async () => {
  const node = new DedupingNode();
  const app = createApp(node, TEST_OPTIONS);
  const headers = { "Idempotency-Key": "same" };
  assert.equal((await app.request("/v1/kv/a", { method: "PUT", body: "1", headers })).status, 200);
  // The same write again is a retry: the first answer.
  assert.equal((await app.request("/v1/kv/a", { method: "PUT", body: "1", headers })).status, 200);
  for (
    const [path, method] of [["/v1/kv/a", "DELETE"], ["/v1/kv/b", "PUT"], [
      "/v1/kv?prefix=a",
      "DELETE",
    ]] as const
  ) {
    const res = await app.request(path, { method, body: method === "PUT" ? "2" : null, headers });
    assert.equal(res.status, 409, `${method} ${path}`);
    const body = await res.json() as { error: { code: string; message: string } };
    assert.equal(body.error.code, "conflict");
    assert.match(body.error.message, /Idempotency-Key "same" was already used/);
  }
  assert.equal(node.keys.has("b"), false);
});
