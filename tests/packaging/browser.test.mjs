// Browser consumers of the tarball, loaded in headless Chromium (playwright-core, /usr/bin/chromium):
// a Vite production build, an esbuild bundle, and a module web worker. Each uses the SDK right after importing
// it (no init()), makes the real call and runs the seed's snippets verbatim against the appkeys-server of the run
// (cross-origin: the pages are served from their own port). No .wasm file is shipped or served: it is in the JS.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import {
  copyFiles,
  exec,
  expectRealCall,
  expectSeedFlow,
  freshProject,
  launchChromium,
  pageResult,
  serveStatic,
  serverUrl,
  snippetsModule,
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

/** The real call and the seed's snippets ran, without init() and without a .wasm file to serve. */
function expectBrowserRun(result, dist) {
  expectRealCall(assert, result);
  expectSeedFlow(assert, result.seed);
  assert.deepEqual(wasmFiles(dist), [], "nothing to copy or serve besides the bundle: the wasm is inside it");
}

test("Vite production build (no plugins) runs in Chromium", async () => {
  const dir = await freshProject("vite", {
    packageJson: { type: "module" },
    files: {
      "index.html": "web/index.html",
      "main.mjs": "web/main.mjs",
      "real-call.mjs": "real-call.mjs",
      "snippets.mjs": snippetsModule(),
    },
    deps: [toolSpec("vite")],
  });
  await exec(join(dir, "node_modules/.bin/vite"), ["build", "--logLevel", "warn"], { cwd: dir });
  const dist = join(dir, "dist");
  expectBrowserRun(await loadBuilt(dist), dist);
});

test("esbuild bundle (minified) runs in Chromium", async () => {
  const dir = await freshProject("esbuild", {
    packageJson: { type: "module" },
    files: {
      "index.html": "web/index.html",
      "main.mjs": "web/main.mjs",
      "real-call.mjs": "real-call.mjs",
      "snippets.mjs": snippetsModule(),
    },
    deps: [toolSpec("esbuild")],
  });
  const dist = join(dir, "dist");
  await exec(join(dir, "node_modules/.bin/esbuild"), [
    "main.mjs", "--bundle", "--minify", "--format=esm", "--platform=browser", "--target=es2022",
    "--log-level=warning", `--outfile=${join(dist, "main.mjs")}`,
  ], { cwd: dir });
  copyFiles(dist, { "index.html": "web/index.html" });
  expectBrowserRun(await loadBuilt(dist), dist);
});

test("module web worker imports the SDK and makes the call", async () => {
  const dir = await freshProject("worker", {
    packageJson: { type: "module" },
    files: {
      "main.mjs": "worker/main.mjs",
      "worker.mjs": "worker/worker.mjs",
      "real-call.mjs": "real-call.mjs",
      "snippets.mjs": snippetsModule(),
    },
    deps: [toolSpec("esbuild")],
  });
  const dist = join(dir, "dist");
  mkdirSync(dist, { recursive: true });
  await exec(join(dir, "node_modules/.bin/esbuild"), [
    "main=main.mjs", "worker=worker.mjs", "--bundle", "--format=esm", "--platform=browser", "--target=es2022",
    "--out-extension:.js=.js", "--log-level=warning", `--outdir=${dist}`,
  ], { cwd: dir });
  copyFiles(dist, { "index.html": "worker/index.html" });
  const result = await loadBuilt(dist);
  assert.equal(result.inWorker, true, "the call ran inside the worker");
  expectBrowserRun(result, dist);
});
