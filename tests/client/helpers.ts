/**
 * Shared helpers for client tests: a cluster that is always closed, a seeded random
 * source for the backoff jitter, and condition waits with deadlines.
 *
 * @module
 */

import { createClient, type RaftkvClient } from "../../src/client/mod.ts";
import type { ClientOptions } from "../../src/client/mod.ts";
import { FakeCluster } from "./fake_server.ts";

/** Seed of the jitter PRNG; printed when a test fails. */
export const SEED = Number(Deno.env.get("CLIENT_TEST_SEED") ?? "20261123");

/** A small seeded PRNG (mulberry32): uniform numbers in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Runs `body` against a fresh cluster of `size` nodes, closing it however `body` ends. */
export async function withCluster(
  size: number,
  body: (cluster: FakeCluster) => Promise<void>,
  token: string | null = null,
): Promise<void> {
  const cluster = new FakeCluster(size, token);
  try {
    await body(cluster);
  } catch (error) {
    console.error(`client test failed with CLIENT_TEST_SEED=${SEED}`);
    throw error;
  } finally {
    await cluster.close();
  }
}

/** A client with fast, seeded backoff for tests. */
export function testClient(
  endpoints: string[],
  overrides: Partial<ClientOptions> = {},
): RaftkvClient {
  return createClient({
    endpoints,
    timeoutMs: 2_000,
    backoff: { baseMs: 1, maxMs: 5 },
    random: seededRandom(SEED),
    ...overrides,
  });
}

/** Waits until `condition()` holds, failing after `deadlineMs`. */
export async function waitFor(
  condition: () => boolean,
  what: string,
  deadlineMs = 3_000,
): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Collects `count` items from an async iterable, failing after `deadlineMs`. */
export async function take<T>(
  iterable: AsyncIterable<T>,
  count: number,
  deadlineMs = 3_000,
): Promise<T[]> {
  const items: T[] = [];
  if (count === 0) return items;
  const iterator = iterable[Symbol.asyncIterator]();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${items.length}/${count} items`)),
      deadlineMs,
    );
  });
  try {
    while (items.length < count) {
      const step = await Promise.race([iterator.next(), timeout]);
      if (step.done === true) break;
      items.push(step.value);
    }
  } catch (error) {
    // The iterator may be stuck in next(); return() would queue behind it forever.
    void iterator.return?.();
    throw error;
  } finally {
    clearTimeout(timer);
  }
  await bounded(Promise.resolve(iterator.return?.()), 2_000, "closing the iterator");
  return items;
}

/** Awaits `promise`, but fails instead of hanging after `ms` (cleanup must not block a run). */
export async function bounded<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
