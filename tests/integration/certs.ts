/**
 * Throwaway TLS material for tests, made with openssl at test time: a CA, and a
 * certificate for 127.0.0.1 / localhost signed by it (ca.pem, node.pem, node.key).
 *
 * @module
 */

async function openssl(args: string[], cwd: string): Promise<void> {
  const out = await new Deno.Command("openssl", { args, cwd, stdout: "null", stderr: "piped" })
    .output();
  if (!out.success) throw new Error(`openssl ${args[0]}: ${new TextDecoder().decode(out.stderr)}`);
}

/** A CA and a server certificate for 127.0.0.1 signed by it, in `dir`. */
export async function makeCertificates(dir: string): Promise<void> {
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
