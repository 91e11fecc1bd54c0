/**
 * Lease ids as the client accepts them: the server's opaque lowercase hex string, or a
 * `kv.lease()` handle (anything with that `id`).
 *
 * @module
 */

import { BadRequest } from "./errors.ts";

/** A lease named by its id or by a handle that carries it. */
export type LeaseRef = string | { readonly id: string };

/** The server's lease id shape: lowercase hex, at most 16 digits. */
const LEASE_ID = /^[0-9a-f]{1,16}$/;

/** The id of `lease`, checked, so a bad one is refused without a round trip. */
export function leaseIdOf(lease: LeaseRef): string {
  const id = typeof lease === "string" ? lease : lease?.id;
  if (typeof id !== "string" || !LEASE_ID.test(id)) {
    throw new BadRequest("lease must be a lease id (lowercase hex) or a lease handle", {
      status: 0,
    });
  }
  return id;
}

/** True when `text` has the shape of a lease id. */
export function isLeaseId(text: string): boolean {
  return LEASE_ID.test(text);
}
