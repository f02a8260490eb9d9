// Bundling and serving helpers for the browser test: esbuild with the `browser` condition, the wasm
// files copied next to the bundle (esbuild leaves `new URL("x.wasm", import.meta.url)` alone), and a
// tiny static HTTP server on 127.0.0.1:0 that serves `.wasm` as `application/wasm`.
import { build } from "esbuild";
import { createServer } from "node:http";
import { copyFileSync, readdirSync, readFileSync, existsSync } from "node:fs";
import { dirname, extname, join, resolve, normalize } from "node:path";

/** Bundles `entry` into `outdir/<outName>` and copies every .wasm of the bundled package dirs next to it. */
export async function bundleForBrowser(entry, outdir, outName = "page.js", extra = {}) {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    outfile: join(outdir, outName),
    metafile: true,
    logLevel: "warning",
    ...extra,
  });
  const cwd = process.cwd();
  const dirs = new Set(Object.keys(result.metafile.inputs).map((p) => dirname(resolve(cwd, p))));
  const wasm = [];
  for (const d of dirs) {
    if (d.includes(`${"/"}tests${"/"}`)) continue;
    for (const f of readdirSync(d)) {
      if (f.endsWith(".wasm")) {
        copyFileSync(join(d, f), join(outdir, f));
        wasm.push(f);
      }
    }
  }
  return { metafile: result.metafile, wasm };
}

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".wasm": "application/wasm",
  ".map": "application/json",
};

/** Serves `root` on 127.0.0.1 (free port). Resolves to { url, close() }. */
export async function serveStatic(root) {
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, "http://x").pathname));
    const file = join(root, path === "/" ? "index.html" : path);
    if (!file.startsWith(root) || !existsSync(file)) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found");
      return;
    }
    res.writeHead(200, {
      "content-type": TYPES[extname(file)] || "application/octet-stream",
      "cache-control": "no-store",
    });
    res.end(readFileSync(file));
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    async close() {
      server.closeAllConnections?.();
      await new Promise((r) => server.close(r));
    },
  };
}

/** Chromium as the brief requires it: the system binary, headless, no sandbox, no background traffic. */
export const CHROMIUM_OPTIONS = {
  executablePath: process.env.CHROME_BIN || "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
};
