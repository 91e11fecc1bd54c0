/**
 * The seam on Deno: Deno.serve, Deno.listen/connect(Tls), Deno.FsFile. The only file
 * besides deno_files.ts allowed to call `Deno.*`.
 *
 * @module
 */

import { denoFileSystem } from "./deno_files.ts";
import type { Conn, Listener, Runtime, SyncCounters } from "./runtime.ts";

/** Wraps a Deno connection in the seam's {@link Conn}. */
function wrapConn(conn: Deno.TcpConn | Deno.TlsConn): Conn {
  const a = conn.remoteAddr;
  return {
    read: (buf) => conn.read(buf),
    write: (bytes) => conn.write(bytes),
    close: () => conn.close(),
    setNoDelay: (on) => {
      if ("setNoDelay" in conn) conn.setNoDelay(on);
    },
    remoteAddr: `${a.hostname}:${a.port}`,
  };
}

/** Creates the Deno runtime; `syncs` is shared with its file system. */
export function denoRuntime(): Runtime {
  const syncs: SyncCounters = { fdatasync: 0, fsync: 0 };
  return {
    name: "deno",
    args: Deno.args,
    env: (name) => Deno.env.get(name),
    execPath: Deno.execPath(),
    exit: (code) => Deno.exit(code),
    onSignal(signal, handler) {
      Deno.addSignalListener(signal, handler);
      return () => Deno.removeSignalListener(signal, handler);
    },
    unrefTimer: (timer) => Deno.unrefTimer(timer),
    refTimer: (timer) => Deno.refTimer(timer),
    stdoutIsTerminal: () => Deno.stdout.isTerminal(),
    writeSync(fd, bytes) {
      const out = fd === 1 ? Deno.stdout : Deno.stderr;
      for (let done = 0; done < bytes.length;) done += out.writeSync(bytes.subarray(done));
    },
    serve(options, handler) {
      const tls = options.tls === undefined ? {} : options.tls;
      return new Promise((resolve) => {
        const server = Deno.serve({
          hostname: options.hostname,
          port: options.port,
          onListen: (addr) => resolve({ port: addr.port, shutdown: () => server.shutdown() }),
          ...tls,
        }, (request) => handler(request));
      });
    },
    memberFetch(caCerts) {
      const client = Deno.createHttpClient({ poolMaxIdlePerHost: 0, caCerts });
      return (input, init) => fetch(input, { ...init, client });
    },
    // deno-lint-ignore require-await -- async so that a bind failure rejects
    async listen(options): Promise<Listener> {
      const { hostname, port } = options;
      const listener = options.tls
        ? Deno.listenTls({ hostname, port, transport: "tcp", ...options.tls })
        : Deno.listen({ hostname, port, transport: "tcp" });
      return {
        accept: async () => wrapConn(await listener.accept()),
        close: () => listener.close(),
        addr: { hostname: listener.addr.hostname, port: listener.addr.port },
      };
    },
    async connect(options) {
      const { hostname, port, caCerts, signal } = options;
      const conn = caCerts
        ? await Deno.connectTls({ hostname, port, caCerts })
        : await Deno.connect({
          hostname,
          port,
          transport: "tcp",
          ...(signal === undefined ? {} : { signal }),
        });
      return wrapConn(conn);
    },
    fs: denoFileSystem(syncs),
    async lockFile(path) {
      const file = await Deno.open(path, { read: true, write: true, create: true });
      if (await file.tryLock(true)) return () => file.close();
      file.close();
      return null;
    },
    syncs,
  };
}
