/**
 * HTTPS on the front door, with a throwaway CA made by openssl at test time; and
 * bearer tokens end to end (forwarded writes keep their credentials).
 */

import assert from "node:assert/strict";
import { TestCluster } from "./harness.ts";
import { makeCertificates } from "./certs.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test(
  "HTTPS with the test CA works, without it fails; peers talk TLS; tokens are enforced across forwarding",
  opts,
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "raftkv-tls-" });
    await makeCertificates(dir);
    const token = "test-token-0123456789abcdef";
    const cluster = await TestCluster.start(3, [
      "--tls-cert",
      `${dir}/node.pem`,
      "--tls-key",
      `${dir}/node.key`,
      "--tls-ca",
      `${dir}/ca.pem`,
      "--peer-tls",
      "--token",
      token,
    ], { scheme: "https", caCert: await Deno.readTextFile(`${dir}/ca.pem`), token });
    const client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(`${dir}/ca.pem`)] });
    try {
      const leader = await cluster.leader();
      const follower = cluster.nodes.find((n) => n !== leader)!;
      const auth = { authorization: `Bearer ${token}` };
      const put = await fetch(`${follower.httpUrl}/v1/kv/secure`, {
        method: "PUT",
        body: "yes",
        headers: auth,
        client,
      });
      assert.equal(put.status, 200, await put.text());
      const get = await fetch(`${leader.httpUrl}/v1/kv/secure`, { headers: auth, client });
      assert.equal(await get.text(), "yes");
      const anonymous = await fetch(`${leader.httpUrl}/v1/kv/secure`, { client });
      assert.equal(anonymous.status, 401);
      await anonymous.body?.cancel();
      // Without the CA, the certificate cannot be verified.
      await assert.rejects(() => fetch(`${leader.httpUrl}/health`), (e: Error) => {
        assert.match(`${e.message} ${e.cause}`, /certificate|UnknownIssuer|invalid peer/i);
        return true;
      });
      // Plain HTTP to an HTTPS port gets no answer.
      await assert.rejects(async () => {
        const res = await fetch(leader.httpUrl.replace("https:", "http:") + "/health");
        await res.body?.cancel();
      });
    } finally {
      client.close();
      await cluster.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
