/**
 * Node and cluster introspection: `GET /v1/status` and `GET /v1/cluster`.
 *
 * @module
 */

import { readJson } from "./body.ts";
import { call, type CallContext } from "./call.ts";
import { Endpoints } from "./endpoints.ts";
import { errorFromResponse } from "./http_error.ts";
import { JsonObject, malformed } from "./json_shape.ts";
import { MAX_RESPONSE_BYTES, MAX_SMALL_ANSWER_BYTES } from "./limits.ts";
import type { ClusterCallOptions } from "./options.ts";
import type { ClusterInfo, Status } from "./types.ts";

const ROLES: ReadonlySet<string> = new Set([
  "follower",
  "precandidate",
  "candidate",
  "leader",
  "learner",
]);

/** The status of the first endpoint that answers (or of `options.endpoint`). */
export async function fetchStatus(
  ctx: CallContext,
  options: ClusterCallOptions = {},
): Promise<Status> {
  return await call(pinned(ctx, options.endpoint), {
    method: "GET",
    path: "/v1/status",
    write: false,
    startAt: "preferred",
    signal: options.signal,
  }, async (response) => {
    if (!response.ok) throw await errorFromResponse(response);
    const json = new JsonObject(await readJson(response, MAX_SMALL_ANSWER_BYTES), "status");
    const role = json.string("role");
    if (!ROLES.has(role)) throw malformed(`unknown role ${role}`);
    return {
      id: json.string("id"),
      role: role as Status["role"],
      term: json.integer("term"),
      leader: json.nullableString("leader"),
      leaderHttpUrl: json.nullableString("leaderHttpUrl"),
      commitIndex: json.integer("commitIndex"),
      appliedIndex: json.integer("appliedIndex"),
      ready: json.boolean("ready"),
    };
  });
}

/** Membership and replication progress (`GET /v1/cluster`; a read token suffices). */
export async function fetchClusterInfo(
  ctx: CallContext,
  options: ClusterCallOptions = {},
): Promise<ClusterInfo> {
  return await call(pinned(ctx, options.endpoint), {
    method: "GET",
    path: "/v1/cluster",
    write: false,
    startAt: "preferred",
    signal: options.signal,
  }, async (response) => {
    if (!response.ok) throw await errorFromResponse(response);
    const json = new JsonObject(await readJson(response, MAX_RESPONSE_BYTES), "cluster");
    // Checked field by field for the top level; members pass through as the server sent them.
    return {
      clusterId: json.string("clusterId"),
      self: json.string("self"),
      leader: json.nullableString("leader"),
      term: json.integer("term"),
      commitIndex: json.integer("commitIndex"),
      members: json.array("members") as ClusterInfo["members"],
    };
  });
}

/** `ctx` limited to one endpoint, when the caller names one. */
function pinned(ctx: CallContext, endpoint: string | undefined): CallContext {
  if (endpoint === undefined) return ctx;
  return { ...ctx, endpoints: new Endpoints([endpoint]) };
}
