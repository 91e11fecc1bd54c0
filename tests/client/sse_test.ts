import assert from "node:assert/strict";
import { RaftkvClientError } from "../../src/client/mod.ts";
import { SseParser } from "../../src/client/sse.ts";

Deno.test("SSE events dispatch on a blank line with event, id and data", () => {
  const parser = new SseParser();
  assert.deepEqual(parser.feed('event: put\nid: 7\ndata: {"a":1}\n\n'), [
    { event: "put", id: "7", data: '{"a":1}' },
  ]);
});

Deno.test("SSE lines split across chunks, CRLF split between chunks, and CR alone all parse", () => {
  const parser = new SseParser();
  const text = "event: put\r\ndata: one\r\n\r\nevent: delete\rdata: two\r\rdata: three\n\n";
  const out = [];
  for (const char of text) out.push(...parser.feed(char));
  assert.deepEqual(out.map((m) => [m.event, m.data]), [
    ["put", "one"],
    ["delete", "two"],
    ["message", "three"],
  ]);
});

Deno.test("SSE comments are ignored and multi-line data joins with LF", () => {
  const parser = new SseParser();
  const out = parser.feed(": heartbeat\n\ndata: a\ndata:b\n: mid\ndata:  c\n\n");
  assert.deepEqual(out.map((m) => m.data), ["a\nb\n c"]);
});

Deno.test("SSE blocks without data dispatch nothing but still reset the event type", () => {
  const parser = new SseParser();
  assert.deepEqual(parser.feed("event: put\nid: 3\n\ndata: x\n\n"), [
    { event: "message", id: "3", data: "x" },
  ]);
});

Deno.test("an SSE event longer than the limit fails instead of growing without bound", () => {
  const parser = new SseParser(16);
  assert.throws(() => parser.feed("data: " + "x".repeat(20)), RaftkvClientError);
  const lines = new SseParser(12);
  lines.feed("data: 12345\n");
  assert.throws(() => lines.feed("data: 1234567\n"), RaftkvClientError);
});
