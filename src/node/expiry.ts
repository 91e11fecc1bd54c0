/**
 * TTL expiry: the leader turns due expiries into log entries (stamped with its clock),
 * so every replica expires the same keys at the same index.
 *
 * @module
 */

import type { Raft } from "../raft/raft.ts";
import type { KvStore } from "../kv/store.ts";
import { encodeEnvelope } from "../kv/codec.ts";

/** Ticks between two expiry proposals, so a slow commit is not proposed again at once. */
export const EXPIRY_RETRY_TICKS = 5;

/** Proposes expiries when due, at most once per {@link EXPIRY_RETRY_TICKS} ticks. */
export class ExpiryProposer {
  #proposedAtMs = 0;

  /** `tickMs` paces the retries; `now` is the node's clock. */
  constructor(private readonly tickMs: number, private readonly now: () => number) {}

  /** Called on each tick. */
  maybePropose(raft: Raft, kv: KvStore): void {
    const due = kv.nextExpiryMs();
    const now = this.now();
    if (due === null || due > now || raft.basicStatus().role !== "leader") return;
    if (now - this.#proposedAtMs < this.tickMs * EXPIRY_RETRY_TICKS) return;
    this.#proposedAtMs = now;
    raft.propose(encodeEnvelope({ command: { op: "expire" }, idempotencyKey: null, nowMs: now }));
  }
}
