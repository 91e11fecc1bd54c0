/**
 * What a node id may be: the one rule shared by the CLI (`--id`, `--initial-cluster`)
 * and the admin routes (`/v1/cluster/members/:id`); the peer wire bounds the length
 * of what it decodes by the same {@link MAX_NODE_ID_CHARS}.
 *
 * @module
 */

/** Longest node id, in characters. */
export const MAX_NODE_ID_CHARS = 64;

/** A node id: 1 to {@link MAX_NODE_ID_CHARS} letters, digits, `_`, `.` or `-` (e.g. `n1`). */
export const NODE_ID_PATTERN: RegExp = new RegExp(`^[A-Za-z0-9_.-]{1,${MAX_NODE_ID_CHARS}}$`);

/** Whether `id` is a valid node id (see {@link NODE_ID_PATTERN}). */
export function isValidNodeId(id: string): boolean {
  return NODE_ID_PATTERN.test(id);
}
