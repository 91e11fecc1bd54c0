/**
 * Readers for the files in deploy/: the `--flag` and `RAFTKV_*` tokens each one uses,
 * and the node configurations (environment + arguments) that compose, Kubernetes,
 * systemd and the Dockerfile would start the node with.
 *
 * @module
 */

import assert from "node:assert/strict";
import { parse as parseYaml, parseAllDocuments } from "yaml";

/** The deploy folder. */
export const DEPLOY_DIR = new URL("../../deploy/", import.meta.url).pathname;

/** One node start as a deploy file describes it. */
export interface NodeStart {
  /** Where it comes from, for messages: "docker-compose.yml n4". */
  origin: string;
  /** Arguments after `deno task node`. */
  argv: string[];
  /** The environment, image defaults included. */
  env: Record<string, string>;
}

/** Every file under deploy/, as paths relative to it. */
export async function deployFiles(dir = DEPLOY_DIR, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(dir + prefix)) {
    const path = prefix + entry.name;
    if (entry.isDirectory) out.push(...await deployFiles(dir, path + "/"));
    else out.push(path);
  }
  return out.sort();
}

/** The part of a file whose flags must be real: all of it, but only code in Markdown. */
export function checkedText(path: string, text: string): string {
  if (!path.endsWith(".md")) return text;
  // Prose may name flags that do not exist yet (documented as pending); code may not.
  const blocks = [...text.matchAll(/^```[^\n]*\n([\s\S]*?)^```/gm)].map((m) => m[1] ?? "");
  const inline = [...text.replace(/^```[\s\S]*?^```/gm, "").matchAll(/`([^`\n]+)`/g)]
    .map((m) => m[1] ?? "");
  return [...blocks, ...inline].join("\n");
}

/** `--flag` names (without dashes) in `text`. */
export function flagTokens(text: string): Set<string> {
  const flags = new Set<string>();
  for (const m of text.matchAll(/(?:^|[\s"'[(,=`])--([a-z][a-z0-9-]*)/g)) flags.add(m[1] ?? "");
  return flags;
}

/** `RAFTKV_*` names in `text`. */
export function envTokens(text: string): Set<string> {
  return new Set([...text.matchAll(/\bRAFTKV_[A-Z0-9_]+\b/g)].map((m) => m[0]));
}

/** The arguments after `deno task node` in a command given as a list. */
export function nodeArgs(command: unknown, origin: string): string[] {
  if (command === undefined || command === null) return [];
  assert(Array.isArray(command), `${origin}: the command must be a list`);
  const words = command.map(String);
  const at = words.findIndex((w, i) => w === "node" && words[i - 1] === "task");
  assert(at >= 0 && words[0] === "deno", `${origin}: the command must run deno task node`);
  return words.slice(at + 1);
}

/** ENV defaults of the Dockerfile (`ENV A=1 \` continuation lines included). */
export function dockerfileEnv(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  const joined = text.replace(/\\\n/g, " ");
  for (const line of joined.split("\n")) {
    const m = /^ENV\s+(.*)$/.exec(line.trim());
    if (!m) continue;
    for (const pair of (m[1] ?? "").trim().split(/\s+/)) {
      const eq = pair.indexOf("=");
      assert(eq > 0, `Dockerfile ENV must use KEY=value pairs: ${pair}`);
      env[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
  }
  return env;
}

/** The Dockerfile's CMD as a list. */
export function dockerfileCmd(text: string): unknown {
  const m = /^CMD\s+(\[.*\])\s*$/m.exec(text);
  assert(m, "the Dockerfile needs an exec-form CMD");
  return JSON.parse(m[1] ?? "[]");
}

/** Replaces `${VAR...}` compose interpolations with `value(VAR)`. */
function interpolate(text: string, value: (name: string) => string): string {
  return text.replace(/\$\{([A-Z0-9_]+)[^}]*\}/g, (_, name: string) => value(name));
}

/** Node starts of every compose service. */
export function composeStarts(
  text: string,
  imageEnv: Record<string, string>,
  imageCmd: unknown,
  hostValue: (name: string) => string,
): NodeStart[] {
  const doc = parseYaml(interpolate(text, hostValue), { merge: true }) as {
    services: Record<string, { environment?: Record<string, unknown>; command?: unknown }>;
  };
  return Object.entries(doc.services).map(([name, service]) => {
    const origin = `docker-compose.yml ${name}`;
    const env = { ...imageEnv };
    for (const [k, v] of Object.entries(service.environment ?? {})) env[k] = String(v);
    return { origin, argv: nodeArgs(service.command ?? imageCmd, origin), env };
  });
}

interface K8sEnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    fieldRef?: { fieldPath: string };
    secretKeyRef?: { name: string; key: string };
  };
}

interface K8sDoc {
  kind: string;
  metadata: { name: string };
  spec?: Record<string, unknown>;
  stringData?: Record<string, string>;
}

/** All documents of all YAML files under k8s/, failing on any YAML error. */
export async function k8sDocs(): Promise<{ file: string; doc: K8sDoc }[]> {
  const out: { file: string; doc: K8sDoc }[] = [];
  for (const file of (await deployFiles()).filter((f) => f.startsWith("k8s/"))) {
    const text = await Deno.readTextFile(DEPLOY_DIR + file);
    for (const d of parseAllDocuments(text)) {
      assert.deepEqual(d.errors.map(String), [], `${file}: YAML errors`);
      out.push({ file, doc: d.toJS() as K8sDoc });
    }
  }
  return out;
}

/** Node starts of the first pod of every StatefulSet, secrets taken from `secrets`. */
export function k8sStarts(docs: { file: string; doc: K8sDoc }[], imageEnv: Record<string, string>) {
  const secrets = new Map<string, Record<string, string>>();
  for (const { doc } of docs) {
    if (doc.kind === "Secret") secrets.set(doc.metadata.name, doc.stringData ?? {});
  }
  const starts: NodeStart[] = [];
  for (const { file, doc } of docs.filter((d) => d.doc.kind === "StatefulSet")) {
    const pod = `${doc.metadata.name}-0`;
    const template = doc.spec?.["template"] as {
      spec: { containers: { name: string; args?: unknown; env?: K8sEnvVar[] }[] };
    };
    for (const container of template.spec.containers) {
      const origin = `${file} ${container.name}`;
      const env: Record<string, string> = { ...imageEnv };
      for (const v of container.env ?? []) {
        env[v.name] = v.value !== undefined
          ? v.value.replace(/\$\(([A-Za-z0-9_]+)\)/g, (_, n: string) => env[n] ?? `$(${n})`)
          : fromSource(v, pod, secrets, origin);
      }
      starts.push({ origin, argv: nodeArgs(container.args, origin), env });
    }
  }
  return starts;
}

function fromSource(
  v: K8sEnvVar,
  pod: string,
  secrets: Map<string, Record<string, string>>,
  origin: string,
): string {
  const field = v.valueFrom?.fieldRef?.fieldPath;
  if (field === "metadata.name") return pod;
  const ref = v.valueFrom?.secretKeyRef;
  const secret = ref ? secrets.get(ref.name)?.[ref.key] : undefined;
  assert(secret !== undefined, `${origin}: ${v.name} comes from an unknown source`);
  return secret;
}

/** `KEY=value` lines of an environment file (systemd EnvironmentFile syntax, simple form). */
export function envFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    assert(eq > 0, `not KEY=value: ${line}`);
    env[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return env;
}

/** The node start of `raftkv@<instance>.service`. */
export function systemdStart(unit: string, envText: string, instance: string): NodeStart {
  const exec = /^ExecStart=(.*)$/m.exec(unit)?.[1];
  assert(exec, "the unit needs an ExecStart");
  const words = exec.replaceAll("%i", instance).trim().split(/\s+/);
  assert(words[0]?.endsWith("/deno"), "ExecStart must run deno by absolute path");
  return {
    origin: `raftkv@${instance}.service`,
    argv: nodeArgs(["deno", ...words.slice(1)], "ExecStart"),
    env: envFile(envText),
  };
}
