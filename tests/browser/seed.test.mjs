// Playwright (playwright-core + /usr/bin/chromium): a page bundled by esbuild that imports `appkeys`
// (browser condition) runs the seed flow without init() against a real appkeys-server (cross-origin, CORS); after
// page.reload() app.currentUser is still logged in, and no API key secret is in localStorage.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, copyFileSync, rmSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startServer } from "../support/server.mjs";
import { bundleForBrowser, serveStatic, CHROMIUM_OPTIONS } from "./static.mjs";

const here = fileURLToPath(new URL(".", import.meta.url));
let server;
let site;
let browser;
let outdir;
let bundled;

before(async () => {
  outdir = mkdtempSync(join(tmpdir(), "appkeys-browser-"));
  bundled = await bundleForBrowser(join(here, "page.mjs"), outdir);
  copyFileSync(join(here, "index.html"), join(outdir, "index.html"));
  [server, site, browser] = await Promise.all([startServer(), serveStatic(outdir), chromium.launch(CHROMIUM_OPTIONS)]);
});

after(async () => {
  await browser?.close();
  await site?.close();
  await server?.stop();
  if (outdir) rmSync(outdir, { recursive: true, force: true });
});

async function resultOf(page) {
  await page.waitForFunction(() => window.__result !== undefined, null, { timeout: 30000 });
  return page.evaluate(() => window.__result);
}

test("the bundle uses the package's browser entry, with the wasm inside it", () => {
  assert.deepEqual(bundled.wasm, [], "no .wasm file to ship next to the bundle");
  const js = readFileSync(join(outdir, "page.js"), "utf8");
  assert.ok(!/require\(["']fs["']\)|node:fs/.test(js), "no Node-only code in the browser bundle");
  assert.ok(/initSync|new WebAssembly\.Module/.test(js), "the module is instantiated synchronously");
  assert.ok(!/\bawait\s+\w*init\w*\(/.test(readFileSync(join(here, "..", "..", "pkg/web/index.js"), "utf8")), "no top-level await in the entry");
});

test("seed flow in Chromium; a reload keeps the user logged in", async () => {
  const page = await browser.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    // Chromium logs every non-2xx response ("Failed to load resource"): the flow expects a 404 and a 401
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) problems.push(`console.error: ${m.text()}`);
  });
  const wasmRequests = [];
  page.on("request", (r) => {
    if (r.url().endsWith(".wasm")) wasmRequests.push(r.url());
  });
  await page.goto(`${site.url}/index.html?server=${encodeURIComponent(server.url)}`);
  const first = await resultOf(page);
  assert.equal(first.ok, true, JSON.stringify(first));
  assert.equal(first.phase, "fresh");
  assert.equal(first.readyAtImport, true, "new App() works right after the import, without init()");
  assert.equal(first.initResolved, true, "init() still exists and resolves (idempotent)");
  assert.match(first.userId, /^[0-9a-f]{24}$/);
  assert.equal(first.currentUserId, first.userId);
  assert.equal(first.profileEmail, first.email);
  assert.deepEqual(first.created, { _id: first.created._id, name: "apiKeyName", disabled: false, hasKey: true });
  assert.equal(first.lookUpError?.isAppError, true, JSON.stringify(first.lookUpError));
  assert.equal(first.lookUpError.isError, true);
  assert.equal(first.lookUpError.name, "AppError");
  assert.equal(first.lookUpError.statusCode, 404);
  assert.equal(first.lookUpError.errorCode, "APIKeyNotFound");
  assert.equal(first.disabledId, first.created._id);
  assert.equal(first.afterDisable.disabled, true);
  assert.equal(first.disabledLogIn?.statusCode, 401, JSON.stringify(first.disabledLogIn));
  assert.equal(first.disabledLogIn.errorCode, "AuthError");
  assert.equal(first.deletedId, first.created._id);
  assert.deepEqual(first.remaining.map((k) => k.name), ["second"]);
  assert.deepEqual(wasmRequests, [], "no .wasm file is fetched");

  await page.reload();
  const second = await resultOf(page);
  assert.equal(second.ok, true, JSON.stringify(second));
  assert.equal(second.phase, "reloaded", "app.currentUser is restored from localStorage");
  assert.equal(second.userId, first.userId);
  assert.equal(second.isLoggedIn, true);
  assert.equal(second.state, "active");
  assert.equal(second.providerType, "local-userpass");
  assert.deepEqual(second.keyNames, ["second"], "the restored session works against the server");
  const stored = Object.entries(second.storage);
  assert.ok(stored.length > 0, "users persist in localStorage");
  assert.ok(stored.some(([k]) => k.includes("appkeys-demo")), `keys namespaced by app id: ${stored.map(([k]) => k)}`);
  for (const [k, v] of stored) {
    assert.ok(!String(v).includes(first.secondSecret), `API key secret persisted under ${k}`);
  }
  assert.deepEqual(problems, []);
  await page.close();
});
