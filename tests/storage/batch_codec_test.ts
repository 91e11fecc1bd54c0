import assert from "node:assert/strict";
import { decode } from "cbor-x";
import { decodeBatch, decodeBatchHeader, encodeBatch } from "../../src/storage/batch_codec.ts";
import { makeEntries } from "./helpers.ts";

Deno.test("a batch round-trips with mixed terms and index metadata readable alone", () => {
  const entries = [
    ...makeEntries(2 ** 33, 2 ** 33 + 4, 7),
    ...makeEntries(2 ** 33 + 5, 2 ** 33 + 6, 9, 0),
  ];
  const payload = encodeBatch(entries);
  assert.deepEqual(decodeBatchHeader(payload), {
    firstIndex: 2 ** 33,
    count: 7,
    termRuns: [7, 5, 9, 2],
  });
  const back = decodeBatch(payload).map((e) => ({ ...e, data: Uint8Array.from(e.data) }));
  assert.deepEqual(back, entries);
});

Deno.test("a batch payload is standard CBOR that cbor-x can decode", () => {
  const entries = makeEntries(300, 301, 70_000);
  const v = decode(encodeBatch(entries)) as unknown[];
  assert.equal(v[0], 300);
  assert.deepEqual(v[1], [70_000, 2]);
  assert.equal((v[4] as Uint8Array).length, 200);
});
