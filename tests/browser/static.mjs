// Bundling and serving helpers for the browser test: esbuild with the `browser` condition, the wasm
// files copied next to the bundle (esbuild leaves `new URL("x.wasm", import.meta.url)` alone), and a
// static server from tests/support/browser.mjs (serves `.wasm` as `application/wasm`).
import { build } from "esbuild";
import { copyFileSync, readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

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

export { serveStatic, CHROMIUM_OPTIONS } from "../support/browser.mjs";
