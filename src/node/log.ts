/**
 * Structured logs: one JSON object per line (time, level, node, msg, fields), or a
 * short human-readable line when stdout is a terminal.
 *
 * @module
 */

import { runtime } from "../runtime/current.ts";

/** Severity, lowest first. */
export type LogLevel = "debug" | "info" | "warn" | "error";

const LEVEL_RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** A logger bound to one node. */
export interface Logger {
  /** Writes a line at `level` when it is at or above the configured level. */
  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void;
}

/** Creates a logger writing to stdout (info and below) and stderr (warn and above). */
export function createLogger(
  node: string,
  minLevel: LogLevel = "info",
  pretty = runtime.stdoutIsTerminal(),
): Logger {
  const encoder = new TextEncoder();
  return {
    log(level, msg, fields) {
      if (LEVEL_RANK[level] < LEVEL_RANK[minLevel]) return;
      const time = new Date().toISOString();
      const line = pretty
        ? `${time.slice(11, 23)} ${level.toUpperCase().padEnd(5)} [${node}] ${msg}${
          fields && Object.keys(fields).length > 0 ? " " + JSON.stringify(fields) : ""
        }\n`
        : JSON.stringify({ time, level, node, msg, ...fields }) + "\n";
      runtime.writeSync(LEVEL_RANK[level] >= LEVEL_RANK.warn ? 2 : 1, encoder.encode(line));
    },
  };
}

/** A logger that drops everything (tests). */
export const silentLogger: Logger = { log() {} };
