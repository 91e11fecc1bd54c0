/**
 * `GET /v1/status`, `GET /health` and `GET /ready`. Mounted at the root.
 *
 * @module
 */

import { Hono } from "hono";
import { RaftkvError, removedMemberError } from "../../errors.ts";
import { errorResponse, methodNotAllowed } from "../errors.ts";
import type { NodeApi } from "../node_api.ts";

/** The router for node status and probes; mount with `app.route("/", statusRoutes(node))`. */
export function statusRoutes(node: NodeApi): Hono {
  return new Hono()
    .get("/v1/status", (c) => c.json(node.status()))
    .all("/v1/status", methodNotAllowed(["GET", "HEAD"]))
    // Liveness: answering at all is the signal, so it never consults the node.
    .get("/health", (c) => c.json({ ok: true }))
    .all("/health", methodNotAllowed(["GET", "HEAD"]))
    .get("/ready", (c) => {
      const status = node.status();
      if (status.ready) return c.json({ ready: true });
      if (status.removed) return errorResponse(c, removedMemberError(status.id));
      return errorResponse(c, new RaftkvError("unavailable", `node ${status.id} is not ready`));
    })
    .all("/ready", methodNotAllowed(["GET", "HEAD"]));
}
