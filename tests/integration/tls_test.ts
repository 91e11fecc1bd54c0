/**
 * HTTPS on the front door, with a throwaway CA made by openssl at test time; and
 * bearer tokens end to end (forwarded writes keep their credentials).
 */

import assert from "node:assert/strict";
import { TestCluster } from "./harness.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

async function openssl(args: string[], cwd: string): Promise<void> {
  const out = await new Deno.Command("openssl", { args, cwd, stdout: "null", stderr: "piped" })
    .output();
  if (!out.success) throw new Error(`openssl ${args[0]}: ${new TextDecoder().decode(out.stderr)}`);
}

/** A CA and a server certificate for 127.0.0.1 signed by it, in `dir`. */
async function makeCertificates(dir: string): Promise<void> {
  await openssl([
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "1",
    "-subj",
    "/CN=raftkv test CA",
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
  ], dir);
  await openssl([
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-subj",
    "/CN=127.0.0.1",
    "-keyout",
    "node.key",
    "-out",
    "node.csr",
  ], dir);
  await Deno.writeTextFile(`${dir}/ext.cnf`, "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  await openssl([
    "x509",
    "-req",
    "-in",
    "node.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-days",
    "1",
    "-extfile",
    "ext.cnf",
    "-out",
    "node.pem",
  ], dir);
}

Deno.test(
  "HTTPS with the test CA works, without it fails; tokens are enforced across forwarding",
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
