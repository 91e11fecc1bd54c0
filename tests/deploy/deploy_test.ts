import assert from "node:assert/strict";
import { parse as parseYaml } from "yaml";
import { envName, OPTIONS, parseNodeArgs } from "../../src/node/cli.ts";
import type { NodeConfig } from "../../src/node/config.ts";
import { parseTokenFile } from "../../src/http/auth.ts";
import {
  checkedText,
  composeStarts,
  DEPLOY_DIR,
  deployFiles,
  dockerfileCmd,
  dockerfileEnv,
  envTokens,
  flagTokens,
  k8sDocs,
  k8sStarts,
  type NodeStart,
  systemdStart,
} from "./deploy_files.ts";

/**
 * Flags in deploy/ that belong to other tools, each with where it comes from. A flag
 * that is neither here nor a node flag fails the test: a typo, or a node flag that was
 * renamed or does not exist yet.
 */
const OTHER_TOOLS_FLAGS: Record<string, string> = {
  "interval": "Dockerfile HEALTHCHECK",
  "timeout": "Dockerfile HEALTHCHECK",
  "start-period": "Dockerfile HEALTHCHECK",
  "retries": "Dockerfile HEALTHCHECK",
  "build": "docker compose up --build",
  "now": "systemctl enable --now",
  "from-file": "kubectl create secret",
  "from-literal": "kubectl create secret",
  "replicas": "kubectl scale",
};

/** Paths inside containers and hosts that the example token file stands in for. */
const TOKEN_FILE_PATHS = new Set(["/run/secrets/raftkv_tokens", "/etc/raftkv/tokens"]);
const EXAMPLE_TOKEN_FILE = DEPLOY_DIR + "raftkv-tokens.example";

const read = (path: string) => Deno.readTextFile(DEPLOY_DIR + path);

/** What the compose host shell must export (`${VAR:?...}`). */
const hostValue = (name: string) => `host-value-of-${name}-0123456789`;

async function allStarts(): Promise<NodeStart[]> {
  const dockerfile = await read("Dockerfile");
  const imageEnv = dockerfileEnv(dockerfile);
  const imageCmd = dockerfileCmd(dockerfile);
  return [
    { origin: "Dockerfile CMD", argv: [], env: { ...imageEnv, ...DOCKER_RUN_EXAMPLE_ENV } },
    ...composeStarts(await read("docker-compose.yml"), imageEnv, imageCmd, hostValue),
    ...k8sStarts(await k8sDocs(), imageEnv),
    systemdStart(
      await read("systemd/raftkv@.service"),
      await read("systemd/raftkv.env.example"),
      "n1",
    ),
  ];
}

/** The `docker run` example at the top of the Dockerfile. */
const DOCKER_RUN_EXAMPLE_ENV = {
  RAFTKV_ID: "n1",
  RAFTKV_PEER_ADDR: "n1:7001",
  RAFTKV_INITIAL_CLUSTER: "n1=n1:7001",
  RAFTKV_ALLOW_UNAUTHENTICATED: "true",
};

function configOf(start: NodeStart): NodeConfig {
  const env = (name: string) => {
    const value = start.env[name];
    if (name === "RAFTKV_TOKEN_FILE" && value !== undefined) {
      assert(TOKEN_FILE_PATHS.has(value), `${start.origin}: unexpected token file ${value}`);
      return EXAMPLE_TOKEN_FILE;
    }
    return value;
  };
  let config: NodeConfig | "help";
  try {
    config = parseNodeArgs(start.argv, env);
  } catch (e) {
    throw new Error(`${start.origin}: the node would refuse this configuration: ${e}`);
  }
  assert.notEqual(config, "help");
  return config as NodeConfig;
}

Deno.test("every file in deploy/ is one the deploy test knows how to check", async () => {
  const known = [
    /^Dockerfile$/,
    /^docker-compose\.yml$/,
    /^README\.md$/,
    /^raftkv-tokens\.example$/,
    /^k8s\/[a-z.-]+\.yaml$/,
    /^systemd\/raftkv@\.service$/,
    /^systemd\/raftkv\.env\.example$/,
  ];
  for (const file of await deployFiles()) {
    assert(known.some((re) => re.test(file)), `deploy/${file} is not checked by any test`);
  }
});

Deno.test("every --flag in deploy/ is a node flag or a listed flag of another tool", async () => {
  const unknown: string[] = [];
  for (const file of await deployFiles()) {
    for (const flag of flagTokens(checkedText(file, await read(file)))) {
      if (!(flag in OPTIONS) && !(flag in OTHER_TOOLS_FLAGS)) unknown.push(`${file}: --${flag}`);
    }
  }
  assert.deepEqual(unknown, []);
});

Deno.test("every RAFTKV_* name in deploy/ is a node environment variable", async () => {
  const valid = new Set(Object.keys(OPTIONS).map(envName));
  const unknown: string[] = [];
  let seen = 0;
  for (const file of await deployFiles()) {
    for (const name of envTokens(await read(file))) {
      seen++;
      if (!valid.has(name)) unknown.push(`${file}: ${name}`);
    }
  }
  assert.deepEqual(unknown, []);
  assert(seen > 20, `expected the deploy files to use RAFTKV_* variables, saw ${seen}`);
});

Deno.test("Markdown prose may name pending flags but code blocks may not", () => {
  const text = "Pending: --rewind <file>.\n```sh\ndeno task node --join x\n```\nUse `--learner`.";
  assert.deepEqual([...flagTokens(checkedText("README.md", text))].sort(), ["join", "learner"]);
  assert(flagTokens(checkedText("Dockerfile", text)).has("rewind"));
});

Deno.test("YAML files parse and are indented with spaces only", async () => {
  for (const file of (await deployFiles()).filter((f) => /\.ya?ml$/.test(f))) {
    const text = await read(file);
    for (const [i, line] of text.split("\n").entries()) {
      assert(!/^\s*\t/.test(line), `${file}:${i + 1}: tab in indentation`);
      assert(!/\s$/.test(line), `${file}:${i + 1}: trailing whitespace`);
    }
  }
  assert((await k8sDocs()).length >= 6);
  assert(parseYaml(await read("docker-compose.yml"), { merge: true }));
});

Deno.test("every node start in deploy/ parses with the node's own CLI parser", async () => {
  const starts = await allStarts();
  const origins = starts.map((s) => s.origin);
  assert.equal(starts.length, 1 + 4 + 2 + 1, origins.join(", "));
  for (const start of starts) {
    const config = configOf(start);
    const [peerHost] = config.peerAddr.split(":");
    // The peer address is also what the others dial: a wildcard would point them home.
    assert(!["0.0.0.0", "::", "127.0.0.1", "localhost"].includes(peerHost ?? ""), start.origin);
    if (start.origin !== "Dockerfile CMD") {
      assert(config.tokens.length > 0, `${start.origin}: no client tokens`);
      assert.notEqual(config.peerSecret, null, `${start.origin}: no peer secret`);
      assert.equal(config.fsync, "always", start.origin);
    }
    // A founding voter's own entry in the initial cluster must be its peer address.
    const self = config.initialCluster.get(config.id);
    if (self) assert.equal(self.peerAddr, config.peerAddr, `${start.origin}: own entry`);
  }
});

Deno.test("compose runs three founding voters and one learner that joins them", async () => {
  const starts = (await allStarts()).filter((s) => s.origin.startsWith("docker-compose"));
  const configs = new Map(starts.map((s) => [s.origin.split(" ")[1], configOf(s)]));
  for (const id of ["n1", "n2", "n3"]) {
    const c = configs.get(id);
    assert(c, id);
    assert.equal(c.id, id);
    assert.deepEqual([...c.initialCluster.keys()].sort(), ["n1", "n2", "n3"]);
    assert.equal(c.dataDir, "/data");
    assert.equal(c.advertiseHttpUrl, `http://${id}:8080`);
  }
  const learner = configs.get("n4");
  assert(learner);
  assert.equal(learner.learner, true);
  assert.equal(learner.join, "http://n1:8080");
  assert.equal(learner.initialCluster.size, 0);
  const doc = parseYaml(await read("docker-compose.yml"), { merge: true }) as {
    services: Record<string, { healthcheck?: { test: string[] }; volumes?: string[] }>;
  };
  for (const [name, service] of Object.entries(doc.services)) {
    assert.match(service.healthcheck?.test.join(" ") ?? "", /\/health/, `${name} healthcheck`);
    assert(service.volumes?.some((v) => v.endsWith(":/data")), `${name} keeps /data`);
  }
});

Deno.test("kubernetes: stable peer names, probes, volumes, preStop and a PDB", async () => {
  const docs = (await k8sDocs()).map((d) => d.doc);
  const kinds = docs.map((d) => d.kind).sort();
  assert.deepEqual(kinds, [
    "PodDisruptionBudget",
    "Secret",
    "Service",
    "Service",
    "StatefulSet",
    "StatefulSet",
  ]);
  const headless = docs.find((d) => d.kind === "Service" && d.spec?.["clusterIP"] === "None");
  assert(headless, "a headless service");
  assert.equal(headless.spec?.["publishNotReadyAddresses"], true);
  for (const set of docs.filter((d) => d.kind === "StatefulSet")) {
    const spec = set.spec as Record<string, unknown> & {
      template: {
        metadata: { labels: Record<string, string> };
        spec: { securityContext: { runAsNonRoot: boolean }; containers: Container[] };
      };
      volumeClaimTemplates: { metadata: { name: string } }[];
    };
    assert.equal(spec["serviceName"], headless.metadata.name);
    assert.equal(spec["podManagementPolicy"], "Parallel");
    assert.equal(spec.template.spec.securityContext.runAsNonRoot, true);
    assert.equal(spec.volumeClaimTemplates[0]?.metadata.name, "data");
    const c = spec.template.spec.containers[0];
    assert(c);
    assert.equal(c.readinessProbe.httpGet.path, "/ready");
    assert.equal(c.livenessProbe.httpGet.path, "/health");
    assert(c.volumeMounts.some((m) => m.name === "data" && m.mountPath === "/data"));
    if (set.metadata.name === "raftkv") {
      assert.match(c.lifecycle?.preStop.exec.command.join(" ") ?? "", /kill -TERM 1/);
      const pdb = docs.find((d) => d.kind === "PodDisruptionBudget");
      const selector = (pdb?.spec?.["selector"] as { matchLabels: Record<string, string> })
        .matchLabels;
      for (const [k, v] of Object.entries(selector)) {
        assert.equal(spec.template.metadata.labels[k], v, "the PDB selects the voters");
      }
    }
  }
  const starts = (await allStarts()).filter((s) => s.origin.startsWith("k8s/"));
  const startFrom = (prefix: string) => {
    const start = starts.find((s) => s.origin.startsWith(prefix));
    assert(start, `no node start in ${prefix}`);
    return start;
  };
  const voter = configOf(startFrom("k8s/statefulset"));
  assert.equal(voter.id, "raftkv-0");
  assert.equal(voter.peerAddr, "raftkv-0.raftkv:7001");
  assert.equal(voter.advertiseHttpUrl, "http://raftkv-0.raftkv:8080");
  assert.deepEqual([...voter.initialCluster.keys()], ["raftkv-0", "raftkv-1", "raftkv-2"]);
  const learner = configOf(startFrom("k8s/learner"));
  assert.equal(learner.id, "raftkv-learner-0");
  assert.equal(learner.learner, true);
  assert.equal(learner.join, "http://raftkv-client:8080");
  const secret = docs.find((d) => d.kind === "Secret");
  parseTokenFile(secret?.stringData?.["tokens"] ?? "", "secret.example.yaml tokens");
});

interface Container {
  readinessProbe: { httpGet: { path: string } };
  livenessProbe: { httpGet: { path: string } };
  volumeMounts: { name: string; mountPath: string }[];
  lifecycle?: { preStop: { exec: { command: string[] } } };
}

Deno.test("the image runs as a non-root user with /data as its volume", async () => {
  const text = await read("Dockerfile");
  assert.match(text, /^FROM denoland\/deno:2\.9\.6$/m);
  const user = /^USER\s+(\S+)$/m.exec(text)?.[1];
  assert(user && user !== "root" && user !== "0", "USER must not be root");
  assert.equal(dockerfileEnv(text)["RAFTKV_DATA_DIR"], "/data");
  assert.match(text, /^VOLUME \["\/data"\]$/m);
  assert.match(text, /^HEALTHCHECK[\s\S]*\/health/m);
  assert.deepEqual(dockerfileCmd(text), ["deno", "task", "node"]);
  const unit = await read("systemd/raftkv@.service");
  assert.match(unit, /^EnvironmentFile=\/etc\/raftkv\/%i\.env$/m);
  assert.match(unit, /^User=raftkv$/m);
  assert.match(unit, /^KillSignal=SIGTERM$/m);
  parseTokenFile(await read("raftkv-tokens.example"), "raftkv-tokens.example");
});

Deno.test("the README covers bootstrap, learners, rolling restarts, backup and restore", async () => {
  const text = await read("README.md");
  for (
    const heading of [
      "## Bootstrap a new cluster",
      "## Add a learner",
      "## Rolling restart",
      "## Backup and restore",
    ]
  ) assert(text.includes(heading), heading);
  assert.match(text, /POST \/v1\/cluster\/members/);
  assert.match(text, /--join/);
});
