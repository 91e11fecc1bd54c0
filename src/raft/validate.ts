/**
 * Defensive shape checks for messages stepped into the core. The transport validates
 * peer input, but a malformed message must never corrupt core state, so the core drops
 * anything that does not fit the vocabulary.
 *
 * @module
 */

import { EntryType, type Message, MessageType } from "./messages.ts";

function isIndex(n: unknown): n is number {
  return typeof n === "number" && Number.isSafeInteger(n) && n >= 0;
}

function isId(s: unknown): s is string {
  return typeof s === "string" && s.length > 0;
}

function isIdList(v: unknown): boolean {
  return Array.isArray(v) && v.every(isId);
}

function validAppend(m: Record<string, unknown>, term: number): boolean {
  if (!isIndex(m.prevIndex) || !isIndex(m.prevTerm) || !isIndex(m.commit)) return false;
  if (!Array.isArray(m.entries)) return false;
  let expectIndex = m.prevIndex + 1;
  let minTerm = m.prevTerm;
  for (const e of m.entries as unknown[]) {
    if (typeof e !== "object" || e === null) return false;
    const x = e as Record<string, unknown>;
    if (x.index !== expectIndex || !isIndex(x.term) || x.term < minTerm || x.term > term) {
      return false;
    }
    if (x.type !== EntryType.Normal && x.type !== EntryType.ConfChange) return false;
    if (!(x.data instanceof Uint8Array)) return false;
    expectIndex++;
    minTerm = x.term;
  }
  return m.prevTerm <= term;
}

/** Whether `m` is a well-formed message (fields of the right types and ranges). */
export function isValidMessage(m: Message): boolean {
  const r = m as unknown as Record<string, unknown>;
  if (!isId(r.from) || !isId(r.to) || !isIndex(r.term)) return false;
  const term = r.term as number;
  switch (m.type) {
    case MessageType.Append:
      return validAppend(r, term);
    case MessageType.AppendResponse:
      return isIndex(r.index) && typeof r.reject === "boolean" && isIndex(r.hintIndex) &&
        isIndex(r.hintTerm);
    case MessageType.Vote:
    case MessageType.PreVote:
      return isIndex(r.lastIndex) && isIndex(r.lastTerm) && typeof r.transfer === "boolean";
    case MessageType.VoteResponse:
    case MessageType.PreVoteResponse:
      return typeof r.reject === "boolean";
    case MessageType.Heartbeat:
      return isIndex(r.commit) && isIndex(r.context);
    case MessageType.HeartbeatResponse:
      return isIndex(r.context);
    case MessageType.Snapshot: {
      const s = r.snapshot as Record<string, unknown> | null | undefined;
      if (typeof s !== "object" || s === null) return false;
      const c = s.conf as Record<string, unknown> | null | undefined;
      return isIndex(s.index) && isIndex(s.term) && s.term <= term && typeof c === "object" &&
        c !== null && isIdList(c.voters) && isIdList(c.learners);
    }
    case MessageType.TimeoutNow:
      return true;
    case MessageType.ReadIndex:
      return isIndex(r.context) && r.context > 0;
    case MessageType.ReadIndexResponse:
      return isIndex(r.context) && isIndex(r.index) && typeof r.reject === "boolean";
    default:
      return false;
  }
}
