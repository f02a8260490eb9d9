// A recording HTTP proxy for JavaScript tests.
//
// It forwards every request unchanged to a target (an `appkeys-server` started by server.mjs) and
// records `{ method, path, status }` for each one, so a test can count the requests a client really
// sent (e.g. exactly one `POST /api/client/v2.0/auth/session`) without relying on how that client
// issues them. Start the server with `--public-url <proxy.url>` so that the location response sends
// the client back through the proxy.
import { createServer, request as httpRequest } from "node:http";

export async function startProxy() {
  let target = null;
  const log = [];
  const server = createServer((req, res) => {
    if (!target) {
      res.writeHead(503).end();
      return;
    }
    const entry = { method: req.method, path: req.url, status: null };
    log.push(entry);
    const t = new URL(target);
    const headers = { ...req.headers, host: t.host };
    const upstream = httpRequest(
      { host: t.hostname, port: t.port, method: req.method, path: req.url, headers },
      (up) => {
        entry.status = up.statusCode;
        res.writeHead(up.statusCode, up.statusMessage, up.headers);
        up.pipe(res);
      },
    );
    upstream.on("error", (e) => {
      entry.status = 502;
      entry.error = e.message;
      if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
      res.end(`proxy error: ${e.message}`);
    });
    req.pipe(upstream);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    /** Sets the upstream origin, e.g. the server's `url`. */
    setTarget(url) {
      target = url;
    },
    /** All recorded requests since the last `clear()`. */
    get log() {
      return log.slice();
    },
    clear() {
      log.length = 0;
    },
    /** Recorded requests matching a method and a path (string: exact path without query; RegExp: tested). */
    count(method, path) {
      return log.filter(
        (e) =>
          e.method === method &&
          (path instanceof RegExp ? path.test(e.path) : e.path.split("?")[0] === path),
      ).length;
    },
    async close() {
      server.closeAllConnections?.();
      await new Promise((r) => server.close(r));
    },
  };
}
