/**
 * The seam on Bun: `Bun.serve` for HTTP (the same fetch handler as on Deno), node:net /
 * node:tls for the peer port, node:fs for files, node:process for the rest. The only
 * file allowed to touch `Bun.*`.
 *
 * @module
 */

import * as fs from "node:fs";
import process from "node:process";
import { bunFetchHandler } from "./bun_http.ts";
import { nodeFileSystem } from "./node_files.ts";
import { bunLockFile } from "./bun_flock.ts";
import { nodeConnect, nodeListen } from "./node_sockets.ts";
import type { FetchHandler, HttpServer, Runtime, SyncCounters } from "./runtime.ts";

/** The part of Bun's global this file uses (typed here: Deno's checker has no Bun types). */
interface BunGlobal {
  serve(options: {
    hostname: string;
    port: number;
    fetch: FetchHandler;
    tls?: { cert: string; key: string };
    idleTimeout?: number;
    maxRequestBodySize?: number;
    development?: boolean;
    error?: (error: Error) => Response;
  }): { port: number; stop(closeActiveConnections?: boolean): Promise<void> };
  FetchSession: new (init: { keepAlive: boolean; tls?: { ca: string[] } }) => {
    fetch: typeof fetch;
  };
}

/**
 * Bun.serve closes connections idle for 10 s by default; raftkv's long polls may idle up
 * to 300 s (and Bun allows at most 255), so the idle timeout is off, as on Deno.serve.
 */
export const BUN_IDLE_TIMEOUT_SECONDS = 0;

/**
 * Bun refuses larger bodies itself, with a plain-text 413, before the handler runs. The
 * app enforces every raftkv limit (from Content-Length before reading, and while
 * reading) and answers in its JSON error format, so Bun's own limit is set out of the way.
 */
export const BUN_MAX_REQUEST_BODY_BYTES = 2 ** 40;

function bunGlobal(): BunGlobal {
  return (globalThis as unknown as { Bun: BunGlobal }).Bun;
}

type Timer = { ref?: () => void; unref?: () => void };

/** Creates the Bun runtime. */
export function bunRuntime(): Runtime {
  const syncs: SyncCounters = { fdatasync: 0, fsync: 0 };
  return {
    name: "bun",
    args: process.argv.slice(2),
    env: (name) => process.env[name],
    execPath: process.execPath,
    exit: (code) => process.exit(code),
    onSignal(signal, handler) {
      process.on(signal, handler);
      return () => void process.off(signal, handler);
    },
    unrefTimer: (timer) => (timer as unknown as Timer).unref?.(),
    refTimer: (timer) => (timer as unknown as Timer).ref?.(),
    stdoutIsTerminal: () => process.stdout.isTTY === true,
    writeSync(fd, bytes) {
      // fs.writeSync, not process.stdout.write: a line logged just before exit() must land.
      for (let done = 0; done < bytes.length;) {
        done += fs.writeSync(fd, bytes, done, bytes.length - done);
      }
    },
    serve(options, handler): Promise<HttpServer> {
      const server = bunGlobal().serve({
        hostname: options.hostname,
        port: options.port,
        fetch: bunFetchHandler(handler),
        ...(options.tls === undefined ? {} : { tls: options.tls }),
        idleTimeout: BUN_IDLE_TIMEOUT_SECONDS,
        maxRequestBodySize: BUN_MAX_REQUEST_BODY_BYTES,
        development: false,
      });
      return Promise.resolve({ port: server.port, shutdown: () => server.stop(false) });
    },
    memberFetch(caCerts) {
      // keepAlive: false closes every connection after its response (no pool to go stale).
      const tls = caCerts.length === 0 ? {} : { tls: { ca: caCerts } };
      return new (bunGlobal().FetchSession)({ keepAlive: false, ...tls }).fetch;
    },
    listen: (options) => nodeListen(options),
    connect: (options) => nodeConnect(options),
    fs: nodeFileSystem(syncs),
    lockFile: bunLockFile,
    syncs,
  };
}
