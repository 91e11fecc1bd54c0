import assert from "node:assert/strict";
import { envName, helpText, OPTIONS, parseNodeArgs } from "../../src/node/cli.ts";
import { ConfigError, DEFAULTS, parseInitialCluster } from "../../src/node/config.ts";

const noEnv = () => undefined;

Deno.test("defaults give a working single node config", () => {
  const config = parseNodeArgs(["--id", "n1"], noEnv);
  assert.notEqual(config, "help");
  if (config === "help") return;
  assert.equal(config.peerAddr, DEFAULTS.peerAddr);
  assert.equal(config.httpAddr, DEFAULTS.httpAddr);
  assert.equal(config.dataDir, "./data/n1");
  assert.equal(config.fsync, "always");
  assert.equal(config.tickMs * config.heartbeatTicks, 100);
  assert.equal(config.tickMs * config.electionTicks, 1000);
  assert.equal(config.advertiseHttpUrl, "http://127.0.0.1:8001");
});

Deno.test("environment variables back every flag, flags win", () => {
  const env: Record<string, string> = {
    RAFTKV_ID: "n7",
    RAFTKV_PEER_ADDR: "127.0.0.1:7007",
    RAFTKV_FSYNC: "never",
  };
  const config = parseNodeArgs(["--peer-addr", "127.0.0.1:9999"], (k) => env[k]);
  assert.ok(config !== "help");
  assert.equal(config.id, "n7");
  assert.equal(config.peerAddr, "127.0.0.1:9999");
  assert.equal(config.fsync, "never");
  for (const flag of Object.keys(OPTIONS)) assert.match(envName(flag), /^RAFTKV_[A-Z_]+$/);
});

Deno.test("initial cluster parses members with optional HTTP URLs", () => {
  const members = parseInitialCluster("n1=127.0.0.1:7001@http://127.0.0.1:8001,n2=127.0.0.1:7002");
  assert.deepEqual(members.get("n1"), {
    peerAddr: "127.0.0.1:7001",
    httpUrl: "http://127.0.0.1:8001",
  });
  assert.deepEqual(members.get("n2"), { peerAddr: "127.0.0.1:7002", httpUrl: null });
});

Deno.test("bad flags are refused with a message that says what to fix", () => {
  const cases: [string[], RegExp][] = [
    [[], /--id is required/],
    [["--id", "n1", "--fsync", "sometimes"], /--fsync must be always or never/],
    [["--id", "n1", "--tick-ms", "0"], /--tick-ms must be an integer/],
    [["--id", "n1", "--peer-addr", "nowhere"], /--peer-addr: "nowhere" is not host:port/],
    [["--id", "n1", "--initial-cluster", "n2=127.0.0.1:7002"], /does not list this node's id n1/],
    [["--id", "n1", "--initial-cluster", "n1"], /is not id=host:port/],
    [["--id", "n1", "--no-such-flag"], /see --help/],
  ];
  for (const [argv, message] of cases) {
    assert.throws(() => parseNodeArgs(argv, noEnv), (e: unknown) => {
      assert.ok(e instanceof ConfigError, `expected ConfigError for ${argv.join(" ")}`);
      assert.match(e.message, message);
      return true;
    });
  }
});

Deno.test("integer flags take decimal digits only, from flags and environment alike", () => {
  for (const text of ["", " 100", "0x10", "1e3", "100.0", "+100", "１００"]) {
    assert.throws(
      () => parseNodeArgs(["--id", "n1", "--tick-ms", text], noEnv),
      (e: unknown) => e instanceof ConfigError && /--tick-ms must be an integer/.test(e.message),
      JSON.stringify(text),
    );
    assert.throws(
      () =>
        parseNodeArgs(["--id", "n1"], (k) => k === "RAFTKV_WRITE_TIMEOUT_MS" ? text : undefined),
      /--write-timeout-ms must be an integer/,
      JSON.stringify(text),
    );
  }
  const config = parseNodeArgs(["--id", "n1", "--tick-ms", "050"], noEnv);
  assert.ok(config !== "help");
  assert.equal(config.tickMs, 50);
});

Deno.test("--help documents every flag and its environment variable", () => {
  assert.equal(parseNodeArgs(["--help"], noEnv), "help");
  const text = helpText();
  for (const flag of Object.keys(OPTIONS)) {
    assert.ok(text.includes(`--${flag}`), flag);
    // --help itself comes from the command line only.
    assert.equal(text.includes(envName(flag)), flag !== "help", envName(flag));
  }
});

Deno.test("a reachable peer address without a secret is refused unless explicitly allowed", () => {
  const argv = ["--id", "n1", "--peer-addr", "0.0.0.0:7001"];
  assert.throws(() => parseNodeArgs(argv, noEnv), /no --peer-secret is set/);
  assert.ok(parseNodeArgs([...argv, "--peer-secret", "s"], noEnv) !== "help");
  assert.ok(parseNodeArgs([...argv, "--allow-unauthenticated"], noEnv) !== "help");
});

Deno.test("a reachable HTTP address without a token is refused unless explicitly allowed", () => {
  const argv = ["--id", "n1", "--http-addr", "0.0.0.0:8001"];
  assert.throws(() => parseNodeArgs(argv, noEnv), /no --token is set/);
  const allowed = parseNodeArgs([...argv, "--allow-unauthenticated"], noEnv);
  assert.ok(allowed !== "help" && allowed.allowUnauthenticated);
  const withToken = parseNodeArgs([...argv, "--token", "a-long-enough-token-123"], noEnv);
  assert.ok(withToken !== "help");
  assert.deepEqual(withToken.tokens, [{ token: "a-long-enough-token-123", scope: "readwrite" }]);
});

Deno.test("tokens and TLS flags are checked", () => {
  assert.throws(() => parseNodeArgs(["--id", "n1", "--token", "short"], noEnv), /at least 16/);
  assert.throws(() => parseNodeArgs(["--id", "n1", "--tls-cert", "c.pem"], noEnv), /go together/);
  const config = parseNodeArgs(
    ["--id", "n1", "--tls-cert", "c.pem", "--tls-key", "k.pem", "--read-token", "r".repeat(20)],
    noEnv,
  );
  assert.ok(config !== "help");
  assert.equal(config.advertiseHttpUrl, "https://127.0.0.1:8001");
  assert.deepEqual(config.tokens, [{ token: "r".repeat(20), scope: "read" }]);
});

Deno.test("log level and the snapshot timer are parsed and checked", () => {
  const config = parseNodeArgs(
    ["--id", "n1", "--log-level", "warn", "--snapshot-interval-s", "30"],
    noEnv,
  );
  assert.ok(config !== "help");
  assert.equal(config.logLevel, "warn");
  assert.equal(config.snapshotIntervalMs, 30_000);
  assert.throws(() => parseNodeArgs(["--id", "n1", "--log-level", "loud"], noEnv), /--log-level/);
});
