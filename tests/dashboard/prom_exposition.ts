/**
 * A strict reader of the Prometheus text exposition format 0.0.4, for tests: it parses
 * what `/metrics` serves and throws on anything a Prometheus server would reject or
 * that breaks the format's rules (families contiguous, TYPE before samples, no
 * duplicate series, histogram buckets ordered, cumulative, ending in +Inf and agreeing
 * with `_count`).
 *
 * @module
 */

import assert from "node:assert/strict";

/** One sample line. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** One metric family: HELP, TYPE and its samples. */
export interface Family {
  name: string;
  help: string | null;
  type: "counter" | "gauge" | "histogram" | "summary" | "untyped";
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

/** Parses and validates exposition text; families by name. Throws with the line number. */
export function parseExposition(text: string): Map<string, Family> {
  assert(text.endsWith("\n"), "exposition text must end with a newline");
  const families = new Map<string, Family>();
  const finished = new Set<string>();
  let current: Family | null = null;
  const seen = new Set<string>();
  const lines = text.slice(0, -1).split("\n");
  for (const [i, line] of lines.entries()) {
    const where = `line ${i + 1}: ${JSON.stringify(line)}`;
    try {
      if (line.startsWith("#")) {
        const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
        if (!m) continue; // a plain comment
        const [, kind, name = "", rest = ""] = m;
        assert.match(name, NAME, "metric name");
        const family = open(name);
        if (kind === "HELP") {
          assert.equal(family.help, null, "HELP given twice");
          family.help = unescape(rest, false);
        } else {
          assert(TYPES.has(rest), `unknown TYPE ${rest}`);
          assert.equal(family.samples.length, 0, "TYPE after samples");
          family.type = rest as Family["type"];
        }
        continue;
      }
      assert(line.trim() !== "", "blank line");
      const sample = parseSample(line);
      const family = open(familyOf(sample.name));
      const key = sample.name + JSON.stringify(Object.entries(sample.labels).sort());
      assert(!seen.has(key), "duplicate series");
      seen.add(key);
      family.samples.push(sample);
    } catch (e) {
      throw new Error(`${where}: ${(e as Error).message}`);
    }
  }
  for (const family of families.values()) checkFamily(family);
  return families;

  function open(name: string): Family {
    if (current?.name === name) return current;
    assert(!finished.has(name), `family ${name} is not contiguous`);
    if (current) finished.add(current.name);
    current = { name, help: null, type: "untyped", samples: [] };
    families.set(name, current);
    return current;
  }

  function familyOf(sampleName: string): string {
    if (current === null) return sampleName;
    if (sampleName === current.name) return sampleName;
    if (current.type === "histogram" || current.type === "summary") {
      for (const suffix of ["_bucket", "_sum", "_count"]) {
        if (sampleName === current.name + suffix) return current.name;
      }
    }
    return sampleName;
  }
}

function parseSample(line: string): Sample {
  const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)( -?\d+)?$/.exec(line);
  assert(m, "not a sample line");
  const [, name = "", labelText = "", valueText = ""] = m;
  return { name, labels: parseLabels(labelText), value: parseValue(valueText) };
}

function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  if (text === "") return labels;
  let rest = text.slice(1, -1);
  while (rest !== "") {
    const m = /^([^=]+)="((?:[^"\\\n]|\\.)*)"(,?)/.exec(rest);
    assert(m, `bad labels at ${JSON.stringify(rest)}`);
    const [all, name = "", value = "", comma] = m;
    assert.match(name, LABEL, "label name");
    assert(!(name in labels), `label ${name} twice`);
    labels[name] = unescape(value, true);
    rest = rest.slice(all.length);
    assert(comma === "," || rest === "", "labels must be comma-separated");
  }
  return labels;
}

function unescape(text: string, quotes: boolean): string {
  return text.replace(/\\(.)/g, (_, c: string) => {
    if (c === "n") return "\n";
    if (c === "\\") return "\\";
    if (c === '"' && quotes) return '"';
    throw new Error(`bad escape \\${c}`);
  });
}

function parseValue(text: string): number {
  if (text === "+Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  if (text === "NaN") return NaN;
  assert.match(text, /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/, `bad value ${text}`);
  return Number(text);
}

function checkFamily(family: Family): void {
  const where = `family ${family.name}`;
  if (family.type === "counter") {
    for (const s of family.samples) {
      assert(s.value >= 0, `${where}: negative counter`);
      assert.equal(s.name, family.name, `${where}: stray sample ${s.name}`);
    }
  }
  if (family.type !== "histogram") return;
  const series = new Map<string, Sample[]>();
  for (const s of family.samples) {
    const { le: _le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    series.set(key, [...(series.get(key) ?? []), s]);
  }
  for (const [key, samples] of series) {
    const buckets = samples.filter((s) => s.name === `${family.name}_bucket`);
    const count = samples.find((s) => s.name === `${family.name}_count`);
    const sum = samples.find((s) => s.name === `${family.name}_sum`);
    assert(count && sum, `${where} ${key}: _sum and _count are required`);
    assert(buckets.length > 0, `${where} ${key}: no buckets`);
    let lastLe = -Infinity;
    let lastCount = 0;
    for (const b of buckets) {
      assert(b.labels["le"] !== undefined, `${where}: bucket without le`);
      const le = parseValue(b.labels["le"]);
      assert(le > lastLe, `${where} ${key}: le must increase (${le} after ${lastLe})`);
      assert(b.value >= lastCount, `${where} ${key}: buckets must be cumulative`);
      lastLe = le;
      lastCount = b.value;
    }
    assert.equal(lastLe, Infinity, `${where} ${key}: the last bucket must be le="+Inf"`);
    assert.equal(count.value, lastCount, `${where} ${key}: _count must equal the +Inf bucket`);
  }
}

/** The value of the sample `name` whose labels include `labels`, summed over matches. */
export function valueOf(
  families: Map<string, Family>,
  name: string,
  labels: Record<string, string> = {},
): number {
  let sum = 0;
  for (const family of families.values()) {
    for (const s of family.samples) {
      if (s.name !== name) continue;
      if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) sum += s.value;
    }
  }
  return sum;
}
