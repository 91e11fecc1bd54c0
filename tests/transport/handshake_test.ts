import assert from "node:assert/strict";
import type { NodeId } from "../../src/raft/messages.ts";
import { dial } from "../../src/transport/dial.ts";
import { frameOf } from "../../src/transport/frame.ts";
import { FramedConn } from "../../src/transport/framed_conn.ts";
import {
  encodeChallenge,
  encodeHello,
  encodeVerdict,
  HandshakeKey,
  type Hello,
  isHttpBaseUrl,
  MAX_CLUSTER_ID_LENGTH,
  MAX_HANDSHAKE_FRAME_BYTES,
  MAX_HTTP_URL_LENGTH,
  newNonce,
  parseHello,
  PROTOCOL_VERSION,
  type Verdict,
} from "../../src/transport/handshake.ts";
import { TcpTransport } from "../../src/transport/tcp_transport.ts";
import { newStats } from "../../src/transport/transport.ts";
import { MAX_NODE_ID_LENGTH, wireDecoder, wireEncoder } from "../../src/transport/wire.ts";
import { RawClient, waitFor } from "./helpers.ts";

async function hello(
  key: HandshakeKey,
  serverNonce: Uint8Array,
  version = 1,
  httpUrl: string | null = null,
): Promise<Hello> {
  const fields: Omit<Hello, "mac" | "nonce"> = {
    version,
    clusterId: "c1",
    from: "n1",
    to: "n2",
    channel: "raft",
    ...(version >= 2 ? { httpUrl } : {}),
  };
  return { ...fields, nonce: newNonce(), mac: await key.helloMac(serverNonce, fields) };
}

Deno.test("a hello MAC verifies only for its own nonce, secret and fields", async () => {
  const key = await HandshakeKey.create("s3cret");
  const n1 = newNonce();
  const h = await hello(key, n1);
  assert.ok(await key.verifyHello(n1, h));
  assert.equal(await key.verifyHello(newNonce(), h), false, "replay under a new nonce fails");
  assert.equal(await (await HandshakeKey.create("other")).verifyHello(n1, h), false);
  assert.equal(await key.verifyHello(n1, { ...h, to: "n3" }), false, "fields are bound");
  assert.equal(await key.verifyHello(n1, { ...h, channel: "snapshot" }), false);
  assert.equal(await key.verifyHello(n1, { ...h, mac: new Uint8Array(0) }), false);
});

Deno.test("the welcome MAC proves the server knows the secret and binds the client nonce", async () => {
  const key = await HandshakeKey.create("s3cret");
  const n = newNonce();
  const h = await hello(key, n);
  const mac = await key.welcomeMac(n, h);
  assert.ok(await key.verifyWelcome(n, h, mac));
  assert.equal(await key.verifyWelcome(n, { ...h, nonce: newNonce() }, mac), false);
  assert.equal(await key.verifyWelcome(n, h, new Uint8Array(0)), false);
});

Deno.test("without a secret MACs are empty and not checked", async () => {
  const key = await HandshakeKey.create(undefined);
  assert.equal(key.enabled, false);
  const h = await hello(key, newNonce());
  assert.equal(h.mac.length, 0);
  assert.ok(await key.verifyHello(newNonce(), h));
});

Deno.test("a version-2 hello carries a validated HTTP URL; version 1 stays 8 elements", async () => {
  const key = await HandshakeKey.create(undefined);
  const v2 = await hello(key, newNonce(), 2, "http://127.0.0.1:8001");
  const parsed = parseHello(encodeHello(v2));
  assert.ok(parsed.ok);
  assert.equal(parsed.value.httpUrl, "http://127.0.0.1:8001");
  const none = parseHello(encodeHello(await hello(key, newNonce(), 2, null)));
  assert.ok(none.ok && none.value.httpUrl === null);
  const v1 = parseHello(encodeHello(await hello(key, newNonce(), 1)));
  assert.ok(v1.ok && !("httpUrl" in v1.value), "version 1 has no URL field");
  for (
    const bad of [
      "ftp://127.0.0.1:8001",
      "http://user:pw@127.0.0.1:8001",
      "http://127.0.0.1:8001/?q=1",
      "http://127.0.0.1:8001/#x",
      "http://0.0.0.0:8001",
      "http://[::]:8001",
      "not a url",
      "",
      `http://h${"x".repeat(MAX_HTTP_URL_LENGTH)}`,
    ]
  ) {
    assert.equal(isHttpBaseUrl(bad), false, bad);
    const raw = encodeHello({ ...v2, httpUrl: bad });
    assert.equal(parseHello(raw).ok, false, `hello with ${bad}`);
  }
  assert.ok(isHttpBaseUrl("https://kv.example.com/raftkv"), "a path prefix is allowed");
  // The element count must match the version, both ways.
  const eight = wireDecoder.decode(encodeHello(v2)) as unknown[];
  assert.equal(parseHello(wireEncoder.encode(eight.slice(0, 8))).ok, false);
  const nine = wireDecoder.decode(encodeHello({ ...v2, version: 1 })) as unknown[];
  assert.equal(parseHello(wireEncoder.encode([...nine, null])).ok, false);
});

Deno.test("the biggest version-2 hello still fits the handshake frame limit", () => {
  const id = "n".repeat(MAX_NODE_ID_LENGTH);
  const bytes = encodeHello({
    version: PROTOCOL_VERSION,
    clusterId: "c".repeat(MAX_CLUSTER_ID_LENGTH),
    from: id,
    to: id,
    channel: "snapshot",
    nonce: newNonce(),
    mac: new Uint8Array(32),
    httpUrl: `http://${"h".repeat(MAX_HTTP_URL_LENGTH - 7)}`,
  });
  assert.ok(bytes.length <= MAX_HANDSHAKE_FRAME_BYTES, `${bytes.length} bytes`);
});

Deno.test("the MACs bind both HTTP URLs: a changed URL fails verification", async () => {
  const key = await HandshakeKey.create("s3cret");
  const n = newNonce();
  const h = await hello(key, n, 2, "http://127.0.0.1:8001");
  assert.ok(await key.verifyHello(n, h));
  assert.equal(await key.verifyHello(n, { ...h, httpUrl: "http://10.0.0.9:8001" }), false);
  assert.equal(await key.verifyHello(n, { ...h, httpUrl: null }), false);
  const { httpUrl: _, ...stripped } = h;
  assert.equal(await key.verifyHello(n, { ...stripped, version: 1 }), false, "no downgrade");
  const mac = await key.welcomeMac(n, h, "http://127.0.0.1:8002");
  assert.ok(await key.verifyWelcome(n, h, mac, "http://127.0.0.1:8002"));
  assert.equal(await key.verifyWelcome(n, h, mac, "http://10.0.0.9:8002"), false);
  assert.equal(await key.verifyWelcome(n, h, mac, null), false);
});

type Learned = [NodeId, string][];

async function transport(id: NodeId, httpUrl: string, secret?: string) {
  const t = new TcpTransport({
    id,
    clusterId: "c1",
    listenAddr: "127.0.0.1:0",
    httpUrl,
    ...(secret === undefined ? {} : { secret }),
  });
  const learned: Learned = [];
  t.onPeerHttpUrl = (peer, url) => learned.push([peer, url]);
  await t.start();
  return { t, learned };
}

for (const secret of [undefined, "s3cret"]) {
  Deno.test(`two nodes learn each other's HTTP URL from the handshake (secret: ${!!secret})`, async () => {
    const a = await transport("n1", "http://127.0.0.1:8001", secret);
    const b = await transport("n2", "http://127.0.0.1:8002/", secret);
    try {
      a.t.setPeers(new Map([["n2", b.t.listenAddr]]));
      b.t.setPeers(new Map([["n1", a.t.listenAddr]]));
      // Each side hears the other twice: as a client (welcome) and as a server (hello).
      await waitFor(() => a.learned.length >= 2 && b.learned.length >= 2, "both URLs");
      assert.deepEqual(new Set(a.learned.map(String)), new Set(["n2,http://127.0.0.1:8002/"]));
      assert.deepEqual(new Set(b.learned.map(String)), new Set(["n1,http://127.0.0.1:8001"]));
    } finally {
      await a.t.close();
      await b.t.close();
    }
  });
}

Deno.test("a wildcard advertised URL is not announced", async () => {
  const a = await transport("n1", "http://0.0.0.0:8001");
  const b = await transport("n2", "http://127.0.0.1:8002");
  try {
    a.t.setPeers(new Map([["n2", b.t.listenAddr]]));
    b.t.setPeers(new Map([["n1", a.t.listenAddr]]));
    await waitFor(() => a.learned.length >= 2, "n2's URL at n1");
    assert.deepEqual(b.learned, [], "n1 announced nothing");
  } finally {
    await a.t.close();
    await b.t.close();
  }
});

Deno.test("a version-1 client is welcomed in version 1 (no URL either way)", async () => {
  const server = await transport("n2", "http://127.0.0.1:8002");
  const client = await RawClient.connect(server.t.listenAddr);
  try {
    const verdict = await client.handshake({ clusterId: "c1", from: "n1", to: "n2", version: 1 });
    assert.equal(verdict.kind, "welcome");
    assert.ok(verdict.kind === "welcome" && !("httpUrl" in verdict), "two-element welcome");
    assert.deepEqual(server.learned, []);
    const v2 = await RawClient.connect(server.t.listenAddr);
    try {
      const answer = await v2.handshake({
        clusterId: "c1",
        from: "n1",
        to: "n2",
        httpUrl: "http://127.0.0.1:8001",
      });
      assert.ok(answer.kind === "welcome" && answer.httpUrl === "http://127.0.0.1:8002");
      await waitFor(() => server.learned.length === 1, "the version-2 client's URL");
    } finally {
      v2.close();
    }
  } finally {
    client.close();
    await server.t.close();
  }
});

/** A node from before version 2: it refuses any hello that is not 8 elements long. */
function oldServer(): { addr: string; hellos: number[]; close(): Promise<void> } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const hellos: number[] = [];
  const sessions: Promise<void>[] = [];
  const conns: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      sessions.push((async () => {
        const fc = new FramedConn(conn, MAX_HANDSHAKE_FRAME_BYTES, newStats());
        try {
          await fc.write(frameOf(encodeChallenge({ version: 1, nonce: newNonce() })));
          const frame = await fc.readFrame();
          const value = frame === null ? [] : wireDecoder.decode(frame) as unknown[];
          hellos.push(value.length);
          const verdict: Verdict = value.length === 8
            ? { kind: "welcome", mac: new Uint8Array(0) }
            : { kind: "reject", reason: "handshake_malformed" };
          await fc.write(frameOf(encodeVerdict(verdict)));
          if (verdict.kind === "welcome") await fc.readFrame();
        } catch {
          /* closed */
        } finally {
          fc.close();
        }
      })());
    }
  })();
  return {
    addr: `127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    hellos,
    async close() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* already closed */ }
      }
      await accepting;
      await Promise.allSettled(sessions);
    },
  };
}

Deno.test("dialing a node before version 2 falls back to a version-1 hello", async () => {
  const old = oldServer();
  const learned: Learned = [];
  try {
    const fc = await dial(
      {
        id: "n1",
        clusterId: "c1",
        key: HandshakeKey.create(undefined),
        maxFrameBytes: 1 << 20,
        counter: newStats(),
        httpUrl: "http://127.0.0.1:8001",
        learnedHttpUrl: (id, url) => learned.push([id, url]),
      },
      "n2",
      old.addr,
      "raft",
    );
    fc.close();
    assert.deepEqual(old.hellos, [9, 8], "a version-2 hello, refused, then a version-1 hello");
    assert.deepEqual(learned, []);
  } finally {
    await old.close();
  }
});
