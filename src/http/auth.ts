/**
 * Bearer-token authentication. Client tokens carry a scope (`read` or `readwrite`);
 * a separate admin token guards `/v1/cluster` changes. With no token configured every
 * request is allowed (the node then listens only on loopback unless told otherwise).
 *
 * Tokens are compared through their SHA-256 digests with a constant-time loop, so the
 * time an answer takes says nothing about how much of a guess was right.
 *
 * @module
 */

import type { MiddlewareHandler } from "hono";
import { RaftkvError } from "../errors.ts";
import { errorResponse } from "./errors.ts";

/** What a token may do. `admin` implies `readwrite` implies `read`. */
export type Scope = "read" | "readwrite" | "admin";

/** Configured tokens. */
export interface AuthConfig {
  /** Client tokens and their scopes. */
  tokens: { token: string; scope: "read" | "readwrite" }[];
  /** Token for `/v1/cluster` changes, or null (then client tokens cannot change membership). */
  adminToken: string | null;
}

const RANK: Record<Scope, number> = { read: 0, readwrite: 1, admin: 2 };

/**
 * The transaction route: a read-only transaction is a read, so the route is let through
 * with a read token and asks for readwrite itself (`authorizeWrite`) once the body shows
 * the transaction writes.
 */
const TXN_PATH = "/v1/txn";

declare module "hono" {
  interface ContextVariableMap {
    /**
     * Set by the auth middleware on `POST /v1/txn`: checks the request's token for
     * readwrite access. Absent when no token is configured.
     */
    authorizeWrite: (() => Promise<AuthRefusal | null>) | undefined;
  }
}

/**
 * Paths anyone may call: probes must work without credentials, and the dashboard page
 * (`/`) is static; the data it fetches still needs a token.
 */
const OPEN_PATHS = new Set(["/health", "/ready", "/"]);

/** The scope a request needs. */
export function requiredScope(method: string, path: string): Scope {
  const reading = method === "GET" || method === "HEAD" || method === "OPTIONS";
  if (method === "POST" && path === TXN_PATH) return "read"; // writes: see TXN_PATH
  if (path === "/v1/cluster" || path.startsWith("/v1/cluster/")) {
    return reading ? "read" : "admin";
  }
  return reading ? "read" : "readwrite";
}

/** True when auth is configured at all. */
export function authEnabled(config: AuthConfig): boolean {
  return config.tokens.length > 0 || config.adminToken !== null;
}

async function digest(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}

/** Compares two equal-length digests without an early exit. */
function sameDigest(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ (b[i] ?? 0);
  return diff === 0;
}

/** Why a request was refused: the error and the headers its answer carries. */
export interface AuthRefusal {
  error: RaftkvError;
  headers: Record<string, string>;
}

/**
 * Checks one request against `config`: null when it may proceed, else the refusal to
 * answer with. Shared by the middleware and the direct lane (`direct.ts`).
 */
export type Authorizer = (
  method: string,
  path: string,
  authorization: string | null,
) => Promise<AuthRefusal | null>;

/** The authorizer for `config` (allowing everything when no token is configured). */
export function authorizer(config: AuthConfig): Authorizer {
  if (!authEnabled(config)) return () => Promise.resolve(null);
  const entries: { token: string; scope: Scope }[] = [...config.tokens];
  if (config.adminToken !== null) entries.push({ token: config.adminToken, scope: "admin" });
  const known = Promise.all(
    entries.map(async (e) => ({ digest: await digest(e.token), scope: e.scope })),
  );
  return async (method, path, authorization) => {
    if (OPEN_PATHS.has(path) || method === "OPTIONS") return null;
    let needed = requiredScope(method, path);
    // Without an admin token, read-write tokens manage membership too; without client
    // tokens, only membership changes need a token.
    if (needed === "admin" && config.adminToken === null) needed = "readwrite";
    if (needed !== "admin" && config.tokens.length === 0) return null;
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
    if (!match) {
      return {
        error: new RaftkvError(
          "unauthorized",
          "missing bearer token: send Authorization: Bearer <token>",
        ),
        headers: { "WWW-Authenticate": 'Bearer realm="raftkv"' },
      };
    }
    const presented = await digest(match[1]!);
    let granted: Scope | null = null;
    for (const entry of await known) {
      // Check every entry, so timing does not depend on which one matched.
      if (
        sameDigest(presented, entry.digest) &&
        (granted === null || RANK[entry.scope] > RANK[granted])
      ) {
        granted = entry.scope;
      }
    }
    if (granted === null) {
      return {
        error: new RaftkvError("unauthorized", "the bearer token is not valid"),
        headers: { "WWW-Authenticate": 'Bearer realm="raftkv", error="invalid_token"' },
      };
    }
    if (RANK[granted] < RANK[needed]) {
      return {
        error: new RaftkvError(
          "forbidden",
          `this token allows ${granted} access; ${needed} is needed`,
        ),
        headers: {},
      };
    }
    return null;
  };
}

/** Hono middleware enforcing `config`; a no-op when no token is configured. */
export function authMiddleware(config: AuthConfig): MiddlewareHandler {
  const authorize = authorizer(config);
  return async (c, next) => {
    const authorization = c.req.header("authorization") ?? null;
    const refusal = await authorize(c.req.method, c.req.path, authorization);
    if (refusal !== null) return errorResponse(c, refusal.error, refusal.headers);
    if (c.req.method === "POST" && c.req.path === TXN_PATH) {
      // Any write method on the path needs readwrite (requiredScope).
      c.set("authorizeWrite", () => authorize("PUT", TXN_PATH, authorization));
    }
    await next();
  };
}

/**
 * Parses a token file: one token per line as `<scope> <token>`, scope `read`,
 * `readwrite` or `admin`; `#` starts a comment.
 */
export function parseTokenFile(text: string, path: string): AuthConfig {
  const config: AuthConfig = { tokens: [], adminToken: null };
  for (const [i, raw] of text.split("\n").entries()) {
    const line = raw.replace(/#.*/, "").trim();
    if (line === "") continue;
    const [scope, token, extra] = line.split(/\s+/);
    if (!token || extra !== undefined || token.length < 16) {
      throw new Error(`${path}:${i + 1}: expected "<read|readwrite|admin> <token of 16+ chars>"`);
    }
    if (scope === "admin") config.adminToken = token;
    else if (scope === "read" || scope === "readwrite") config.tokens.push({ token, scope });
    else throw new Error(`${path}:${i + 1}: unknown scope "${scope}"`);
  }
  return config;
}
