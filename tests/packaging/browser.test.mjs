// Browser consumers of the tarball, loaded in headless Chromium (playwright-core, /usr/bin/chromium):
// a Vite production build, an esbuild bundle, and a module web worker. Each makes the real call against the
// appkeys-server of the run (cross-origin: the pages are served from their own port).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import {
  copyFiles,
  exec,
  expectRealCall,
  freshProject,
  launchChromium,
  pageResult,
  serveStatic,
  serverUrl,
  toolSpec,
} from "./lib.mjs";

let browser;
before(async () => {
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
});

/** Builds are served from their own origin; the SDK talks to the server cross-origin (CORS). */
async function loadBuilt(dist) {
  const site = await serveStatic(dist);
  try {
    return await pageResult(browser, `${site.url}/index.html?server=${encodeURIComponent(serverUrl)}`);
  } finally {
    await site.close();
  }
}

/** All .wasm files under dir (recursive). */
function wasmFiles(dir) {
  return readdirSync(dir, { recursive: true }).filter((f) => String(f).endsWith(".wasm"));
}

/**
 * esbuild leaves `new URL("…_bg.wasm", import.meta.url)` alone, so the .wasm goes next to the bundle by hand —
 * found through the `.wasm` subpath of the package's exports map, as a user would.
 */
function copyBrowserWasm(projectDir, destDir) {
  const pkgDir = join(projectDir, "node_modules/appkeys");
  const { exports } = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8"));
  const subpaths = Object.keys(exports).filter((k) => k.endsWith(".wasm"));
  assert.equal(subpaths.length, 1, `package exports one .wasm subpath: ${subpaths}`);
  const target = exports[subpaths[0]];
  copyFileSync(join(pkgDir, target), join(destDir, basename(target)));
}

test("Vite production build (no plugins) runs in Chromium", async () => {
  const dir = await freshProject("vite", {
    packageJson: { type: "module" },
    files: { "index.html": "web/index.html", "main.mjs": "web/main.mjs", "real-call.mjs": "real-call.mjs" },
    deps: [toolSpec("vite")],
  });
  await exec(join(dir, "node_modules/.bin/vite"), ["build", "--logLevel", "warn"], { cwd: dir });
  const dist = join(dir, "dist");
  assert.ok(wasmFiles(dist).length >= 1, "Vite emitted the package's .wasm as an asset");
  expectRealCall(assert, await loadBuilt(dist));
});

test("esbuild bundle (minified) runs in Chromium", async () => {
  const dir = await freshProject("esbuild", {
    packageJson: { type: "module" },
    files: { "index.html": "web/index.html", "main.mjs": "web/main.mjs", "real-call.mjs": "real-call.mjs" },
    deps: [toolSpec("esbuild")],
  });
  const dist = join(dir, "dist");
  await exec(join(dir, "node_modules/.bin/esbuild"), [
    "main.mjs", "--bundle", "--minify", "--format=esm", "--platform=browser", "--target=es2022",
    "--log-level=warning", `--outfile=${join(dist, "main.mjs")}`,
  ], { cwd: dir });
  copyFiles(dist, { "index.html": "web/index.html" });
  copyBrowserWasm(dir, dist);
  expectRealCall(assert, await loadBuilt(dist));
});

test("module web worker imports the SDK and makes the call", async () => {
  const dir = await freshProject("worker", {
    packageJson: { type: "module" },
    files: { "main.mjs": "worker/main.mjs", "worker.mjs": "worker/worker.mjs", "real-call.mjs": "real-call.mjs" },
    deps: [toolSpec("esbuild")],
  });
  const dist = join(dir, "dist");
  mkdirSync(dist, { recursive: true });
  await exec(join(dir, "node_modules/.bin/esbuild"), [
    "main=main.mjs", "worker=worker.mjs", "--bundle", "--format=esm", "--platform=browser", "--target=es2022",
    "--out-extension:.js=.js", "--log-level=warning", `--outdir=${dist}`,
  ], { cwd: dir });
  copyFiles(dist, { "index.html": "worker/index.html" });
  copyBrowserWasm(dir, dist);
  const result = await loadBuilt(dist);
  assert.equal(result.inWorker, true, "the call ran inside the worker");
  expectRealCall(assert, result);
});
