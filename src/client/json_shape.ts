/**
 * Checking the JSON the server sends before trusting it: a field of the wrong type is
 * reported as one clear error instead of surfacing later as `undefined`.
 *
 * @module
 */

import { RaftkvClientError } from "./errors.ts";

/** A JSON object whose fields are checked on access. */
export class JsonObject {
  readonly #value: Record<string, unknown>;
  readonly #what: string;

  /** Wraps `value`, failing unless it is a JSON object; `what` names it in errors. */
  constructor(value: unknown, what: string) {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw malformed(`${what} is not a JSON object`);
    }
    this.#value = value as Record<string, unknown>;
    this.#what = what;
  }

  /** A required safe integer. */
  integer(name: string): number {
    const value = this.#value[name];
    if (!Number.isSafeInteger(value)) throw malformed(`${this.#what}.${name} is not an integer`);
    return value as number;
  }

  /** A required string. */
  string(name: string): string {
    const value = this.#value[name];
    if (typeof value !== "string") throw malformed(`${this.#what}.${name} is not a string`);
    return value;
  }

  /** A string or null (absent counts as null). */
  nullableString(name: string): string | null {
    const value = this.#value[name];
    if (value === undefined || value === null) return null;
    if (typeof value !== "string") throw malformed(`${this.#what}.${name} is not a string`);
    return value;
  }

  /** A required boolean. */
  boolean(name: string): boolean {
    const value = this.#value[name];
    if (typeof value !== "boolean") throw malformed(`${this.#what}.${name} is not a boolean`);
    return value;
  }

  /** A required array. */
  array(name: string): unknown[] {
    const value = this.#value[name];
    if (!Array.isArray(value)) throw malformed(`${this.#what}.${name} is not an array`);
    return value;
  }

  /** Any field, unchecked. */
  raw(name: string): unknown {
    return this.#value[name];
  }
}

/** The error for an answer that does not have the documented shape. */
export function malformed(message: string): RaftkvClientError {
  return new RaftkvClientError("internal", `malformed answer from the server: ${message}`, {
    status: 0,
  });
}

/** An ISO 8601 instant or null, as a Date or null. */
export function parseInstant(text: string | null): Date | null {
  if (text === null) return null;
  const date = new Date(text);
  if (Number.isNaN(date.getTime())) throw malformed(`${JSON.stringify(text)} is not a date`);
  return date;
}
