import assert from "node:assert/strict";
import { MessageType } from "../../src/raft/messages.ts";
import type { Message } from "../../src/raft/messages.ts";
import { TcpTransport } from "../../src/transport/tcp_transport.ts";
import { makeCertificates } from "../integration/certs.ts";
import { waitFor } from "../integration/harness.ts";

const heartbeat = (from: string, to: string): Message => ({
  type: MessageType.Heartbeat,
  from,
  to,
  term: 1,
  commit: 0,
  context: 0,
});

Deno.test("peers with TLS talk to each other and refuse a plaintext peer", async () => {
  const dir = await Deno.makeTempDir({ prefix: "raftkv-peer-tls-" });
  await makeCertificates(dir);
  const tls = {
    cert: await Deno.readTextFile(`${dir}/node.pem`),
    key: await Deno.readTextFile(`${dir}/node.key`),
    caCerts: [await Deno.readTextFile(`${dir}/ca.pem`)],
  };
  const common = { clusterId: "c", listenAddr: "127.0.0.1:0" };
  const a = new TcpTransport({ ...common, id: "a", tls });
  const b = new TcpTransport({ ...common, id: "b", tls });
  const plain = new TcpTransport({ ...common, id: "p" });
  const got: Message[] = [];
  b.onMessage = (m) => got.push(m);
  try {
    await Promise.all([a.start(), b.start(), plain.start()]);
    a.setPeers(new Map([["b", b.listenAddr]]));
    plain.setPeers(new Map([["b", b.listenAddr]]));
    a.send(heartbeat("a", "b"));
    await waitFor("the TLS peer's message", () => got.some((m) => m.from === "a") || undefined);
    // A plaintext peer never completes a handshake with a TLS peer, and is never heard.
    for (let i = 0; i < 5; i++) plain.send(heartbeat("p", "b"));
    await waitFor("the plaintext dial to fail", () => {
      const failures = Object.values(plain.stats().handshakeFailures).reduce((x, y) => x + y, 0);
      return failures > 0 ? true : undefined;
    }, 15_000);
    assert.equal(plain.stats().sent, 0);
    assert.equal(got.filter((m) => m.from === "p").length, 0, "a plaintext peer was heard");
    // And a TLS peer dialing a plaintext one is refused by it.
    const heardByPlain: Message[] = [];
    plain.onMessage = (m) => heardByPlain.push(m);
    a.setPeers(new Map([["b", b.listenAddr], ["p", plain.listenAddr]]));
    a.send(heartbeat("a", "p"));
    await waitFor("the plaintext listener to refuse TLS", () => {
      const refused = Object.values(plain.stats().rejected).reduce((x, y) => x + y, 0);
      return refused > 0 ? true : undefined;
    }, 15_000);
    assert.equal(heardByPlain.length, 0);
  } finally {
    await Promise.all([a.close(), b.close(), plain.close()]);
    await Deno.remove(dir, { recursive: true });
  }
});
