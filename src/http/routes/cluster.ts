/**
 * `/v1/cluster`: membership and maintenance. Every mutation runs on the leader, so a
 * follower forwards it there; `GET /v1/cluster` is forwarded too (only the leader knows
 * replication progress) unless `?local=true` asks for this node's own view.
 *
 * @module
 */

import { type Context, Hono } from "hono";
import { RaftkvError } from "../../errors.ts";
import type { AddMemberRequest, AdminApi } from "../admin_api.ts";
import { readBodyLimited } from "../body.ts";
import { methodNotAllowed } from "../errors.ts";
import { forwardIfNotLeader } from "../forward.ts";
import type { NodeApi } from "../node_api.ts";
import { requestSignal } from "../node_calls.ts";
import type { HttpOptions } from "../options.ts";
import { isValidNodeId } from "../../node_id.ts";
import { refuseUnknownParams } from "../validate.ts";

/** Largest admin request body. */
export const MAX_ADMIN_BODY_BYTES = 16 * 1024;

/** The admin router; mount with `app.route("/v1", clusterRoutes(node, admin, options))`. */
export function clusterRoutes(node: NodeApi, admin: AdminApi, options: HttpOptions): Hono {
  const forward = (c: Context, body: Uint8Array | null) =>
    forwardIfNotLeader(c.req.raw, node, body, {
      requestTimeoutMs: options.requestTimeoutMs,
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
  const signal = (c: Context) => requestSignal(c.req.raw, options.requestTimeoutMs);

  return new Hono()
    .use("*", async (c, next) => {
      // As on the data routes: an unknown parameter would be silently ignored.
      refuseUnknownParams(c.req.url, c.req.path.endsWith("/cluster") ? ["local"] : []);
      await next();
    })
    .get("/cluster", async (c) => {
      if (c.req.query("local") !== "true" && node.status().leader !== null) {
        const forwarded = await forward(c, null);
        if (forwarded) return forwarded;
      }
      return c.json(admin.cluster());
    })
    .all("/cluster", methodNotAllowed(["GET", "HEAD"]))
    .post("/cluster/members", async (c) => {
      const body = await readBodyLimited(c.req.raw, MAX_ADMIN_BODY_BYTES);
      const forwarded = await forward(c, body);
      if (forwarded) return forwarded;
      const member = await admin.addMember(parseAddMember(body), signal(c));
      return c.json(member, 201);
    })
    .all("/cluster/members", methodNotAllowed(["POST"]))
    .post("/cluster/members/:id/promote", async (c) => {
      const forwarded = await forward(c, new Uint8Array());
      if (forwarded) return forwarded;
      await admin.promote(memberId(c.req.param("id")), signal(c));
      return c.json(admin.cluster());
    })
    .all("/cluster/members/:id/promote", methodNotAllowed(["POST"]))
    .delete("/cluster/members/:id", async (c) => {
      const forwarded = await forward(c, null);
      if (forwarded) return forwarded;
      await admin.removeMember(memberId(c.req.param("id")), signal(c));
      return c.json({ removed: c.req.param("id") });
    })
    .all("/cluster/members/:id", methodNotAllowed(["DELETE"]))
    .post("/cluster/leader", async (c) => {
      const body = await readBodyLimited(c.req.raw, MAX_ADMIN_BODY_BYTES);
      const forwarded = await forward(c, body);
      if (forwarded) return forwarded;
      const to = memberIdField(parseJson(body), "to");
      await admin.transferLeader(to, signal(c));
      return c.json({ leader: to });
    })
    .all("/cluster/leader", methodNotAllowed(["POST"]))
    .post("/cluster/snapshot", async (c) => {
      return c.json(await admin.snapshot());
    })
    .get("/cluster/snapshot", async (c) => {
      const backup = await admin.backup(signal(c));
      const iterator = backup.chunks[Symbol.asyncIterator]();
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          const next = await iterator.next();
          if (next.done) controller.close();
          else controller.enqueue(next.value);
        },
        async cancel() {
          await iterator.return?.();
        },
      });
      return new Response(body, {
        headers: {
          "content-type": "application/octet-stream",
          "content-disposition": `attachment; filename="raftkv-${backup.index}.snap"`,
          "x-raftkv-snapshot-index": String(backup.index),
        },
      });
    })
    .all("/cluster/snapshot", methodNotAllowed(["GET", "HEAD", "POST"]));
}

function parseJson(body: Uint8Array): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch (error) {
    const why = error instanceof SyntaxError ? error.message : "it is not valid UTF-8";
    throw new RaftkvError("bad_request", `the body is not valid JSON (${why})`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new RaftkvError("bad_request", "the body must be a JSON object");
  }
  return value as Record<string, unknown>;
}

function memberId(id: string): string {
  if (!isValidNodeId(id)) {
    throw new RaftkvError("bad_request", `"${id}" is not a member id (1-64 of A-Z a-z 0-9 _ . -)`);
  }
  return id;
}

/**
 * A member id in a JSON body. A missing or non-string field is named: `{}` used to be
 * answered `"" is not a member id`, and `{"to": 5}` was taken as the id "5".
 */
function memberIdField(json: Record<string, unknown>, field: string): string {
  const value = json[field];
  if (typeof value !== "string") {
    throw new RaftkvError(
      "bad_request",
      value === undefined
        ? `the body needs "${field}", a member id`
        : `"${field}" must be a member id string, not ${JSON.stringify(value)}`,
    );
  }
  return memberId(value);
}

function parseAddMember(body: Uint8Array): AddMemberRequest {
  const json = parseJson(body);
  const id = memberIdField(json, "id");
  const peerAddr = json["peerAddr"];
  if (typeof peerAddr !== "string" || !isHostPort(peerAddr)) {
    throw new RaftkvError("bad_request", "peerAddr must be host:port, the port 1-65535");
  }
  const httpUrl = json["httpUrl"];
  if (typeof httpUrl !== "string" || !/^https?:\/\/\S+$/.test(httpUrl) || !URL.canParse(httpUrl)) {
    throw new RaftkvError("bad_request", "httpUrl must be an http(s) URL");
  }
  const role = json["role"] ?? "learner";
  if (role !== "learner" && role !== "voter") {
    throw new RaftkvError(
      "bad_request",
      `role must be "learner" or "voter", not ${JSON.stringify(role)}`,
    );
  }
  return { id, peerAddr, httpUrl: httpUrl.replace(/\/+$/, ""), role };
}

/**
 * `host:port` with a port of 1-65535: a member added with port 99999 was accepted, stayed
 * in the membership log for good, and every member kept failing to dial it.
 */
function isHostPort(addr: string): boolean {
  const port = /^[^\s:]+:(\d{1,5})$/.exec(addr)?.[1];
  return port !== undefined && Number(port) >= 1 && Number(port) <= 65535;
}
