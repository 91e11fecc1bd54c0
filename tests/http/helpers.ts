/**
 * Shared helpers for HTTP tests: an app over a fake node, and an SSE reader.
 *
 * @module
 */

import type { Hono } from "hono";
import { createApp } from "../../src/http/app.ts";
import type { HttpOptions } from "../../src/http/options.ts";
import { FakeNode } from "./fake_node.ts";

/** Options with small limits so limit tests stay cheap. */
export const TEST_OPTIONS: HttpOptions = {
  maxKeyBytes: 64,
  maxValueBytes: 1024,
  maxWatchers: 4,
  corsOrigins: [],
  requestTimeoutMs: 2_000,
};

/** A fresh fake node and an app over it. */
export function setup(overrides: Partial<HttpOptions> = {}): { node: FakeNode; app: Hono } {
  const node = new FakeNode();
  return { node, app: createApp(node, { ...TEST_OPTIONS, ...overrides }) };
}

/** `PUT /v1/kv/<path>` with a text body. */
export function put(
  app: Hono,
  path: string,
  body: string | Uint8Array<ArrayBuffer>,
  headers: Record<string, string> = {},
): Promise<Response> {
  return Promise.resolve(app.request(`/v1/kv/${path}`, { method: "PUT", body, headers }));
}

/** One parsed Server-Sent Event, or a comment line. */
export interface SseItem {
  event?: string;
  id?: string;
  data?: string;
  comment?: string;
}

/** Reads SSE items from a response body, waiting at most `deadlineMs` in total. */
export class SseReader {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #decoder = new TextDecoder();
  #buffer = "";

  constructor(response: Response) {
    if (response.body === null) throw new Error("SSE response has no body");
    this.#reader = response.body.getReader();
  }

  /** Next `count` items (events or comments) that satisfy `keep`. */
  async take(count: number, keep: (item: SseItem) => boolean = () => true, deadlineMs = 3000) {
    const items: SseItem[] = [];
    const deadline = Date.now() + deadlineMs;
    while (items.length < count) {
      const split = this.#buffer.indexOf("\n\n");
      if (split >= 0) {
        const item = parse(this.#buffer.slice(0, split));
        this.#buffer = this.#buffer.slice(split + 2);
        if (keep(item)) items.push(item);
        continue;
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`timed out after ${items.length}/${count} SSE items`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), remaining);
      });
      const chunk = await Promise.race([this.#reader.read(), timeout]);
      clearTimeout(timer);
      if (chunk === "timeout") continue;
      if (chunk.done) throw new Error(`stream ended after ${items.length}/${count} SSE items`);
      this.#buffer += this.#decoder.decode(chunk.value, { stream: true });
    }
    return items;
  }

  /** Hangs up, as a client closing the connection. */
  async cancel(): Promise<void> {
    await this.#reader.cancel();
  }
}

function parse(block: string): SseItem {
  const item: SseItem = {};
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) item.comment = line.slice(1).trim();
    else if (line.startsWith("event: ")) item.event = line.slice(7);
    else if (line.startsWith("id: ")) item.id = line.slice(4);
    else if (line.startsWith("data: ")) item.data = (item.data ?? "") + line.slice(6);
  }
  return item;
}

/** Waits until `condition()` holds, polling each macrotask turn, or fails after a deadline. */
export async function waitFor(condition: () => boolean, what: string, deadlineMs = 3000) {
  const deadline = Date.now() + deadlineMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}
