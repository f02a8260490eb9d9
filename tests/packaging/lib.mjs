// Helpers for the packaging tests: fresh npm projects from the packed tarball, child processes, a static file
// server for built pages, headless Chromium. Run through tests/packaging/run.sh, which packs the tarball, starts
// one appkeys-server and exports:
//   APPKEYS_URL        base URL of the running server
//   APPKEYS_TGZ        absolute path of the packed tarball (npm pack of pkg/)
//   APPKEYS_PACK_WORK  scratch directory for the fresh projects (removed by run.sh)
//   APPKEYS_ARTIFACTS  where screenshots go (default: <repo>/artifacts)
import { spawn } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, "../..");
export const fixtures = join(here, "fixtures");

function required(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the packaging tests with tests/packaging/run.sh`);
  return v;
}
export const serverUrl = required("APPKEYS_URL");
export const tarball = required("APPKEYS_TGZ");
export const workDir = required("APPKEYS_PACK_WORK");
export const artifactsDir = process.env.APPKEYS_ARTIFACTS || join(repoRoot, "artifacts");

/** Versions of the dev tools, taken from the root package.json so fresh projects use the same ones. */
const rootPkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8"));
export function toolSpec(name) {
  const v = rootPkg.devDependencies && rootPkg.devDependencies[name];
  if (!v) throw new Error(`root package.json has no devDependency ${name}`);
  return `${name}@${v}`;
}
export const toolVersion = (name) => toolSpec(name).slice(name.length + 1);

/**
 * Runs a command; resolves to { stdout, stderr } when it exits 0, rejects with an Error carrying the whole
 * output otherwise (or after `timeout` ms).
 */
export function exec(cmd, args, { cwd, env, timeout = 120000 } = {}) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeout);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolvePromise({ stdout, stderr });
      const how = signal ? `was killed (${signal}${signal === "SIGKILL" ? `, timeout ${timeout} ms` : ""})` : `exited ${code}`;
      reject(new Error(`${cmd} ${args.join(" ")} ${how} in ${cwd}\n--- stdout\n${stdout}\n--- stderr\n${stderr}`));
    });
  });
}

/** `npm install` flags for fresh projects: quiet, and served from the local npm cache when it can be. */
export const npmInstallFlags = ["--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"];

/**
 * Creates a fresh project under the scratch dir: writes package.json (merged over a private stub), copies
 * `files` ({ "dest/path": "fixture/path" | { text } }), then `npm install <tarball> ...deps`.
 * Resolves to the project directory.
 */
export async function freshProject(name, { packageJson = {}, files = {}, deps = [] } = {}) {
  const dir = mkdtempSync(join(workDir, `${name}-`));
  writeFileSync(
    join(dir, "package.json"),
    JSON.stringify({ name: `packaging-${name}`, version: "0.0.0", private: true, ...packageJson }, null, 2),
  );
  copyFiles(dir, files);
  await exec("npm", ["install", ...npmInstallFlags, tarball, ...deps], { cwd: dir });
  return dir;
}

/** Copies fixtures (or literal `{ text }`) into `dir`. */
export function copyFiles(dir, files) {
  for (const [dest, src] of Object.entries(files)) {
    const target = join(dir, dest);
    mkdirSync(dirname(target), { recursive: true });
    if (typeof src === "string") cpSync(join(fixtures, src), target, { recursive: true });
    else writeFileSync(target, src.text);
  }
}

/** Copies an example of examples-js/ into a fresh dir, pointing its `appkeys` dependency at the tarball. */
export function copyExample(name) {
  const src = join(repoRoot, "examples-js", name);
  const dir = mkdtempSync(join(workDir, `example-${name}-`));
  cpSync(src, dir, {
    recursive: true,
    filter: (p) => !/[\\/](node_modules|dist|package-lock\.json)$/.test(p),
  });
  const pkgPath = join(dir, "package.json");
  const pkg = JSON.parse(readFileSync(pkgPath, "utf8"));
  const declared = pkg.dependencies && pkg.dependencies.appkeys;
  pkg.dependencies.appkeys = `file:${tarball}`;
  writeFileSync(pkgPath, JSON.stringify(pkg, null, 2));
  return { dir, declared };
}

export { serveStatic, launchChromium } from "../support/browser.mjs";

/** Collects console messages and page errors of a page, for failure messages. */
export function recordPage(page) {
  const log = [];
  page.on("console", (m) => log.push(`[console.${m.type()}] ${m.text()}`));
  page.on("pageerror", (e) => log.push(`[pageerror] ${e.stack || e.message}`));
  page.on("requestfailed", (r) => log.push(`[requestfailed] ${r.method()} ${r.url()} ${r.failure()?.errorText}`));
  return () => log.join("\n");
}

/**
 * Opens `url` and waits until [data-testid=result] no longer says "pending"; resolves to the parsed
 * JSON after "OK ", throws with the page log on "FAIL ..." or timeout.
 */
export async function pageResult(browser, url, { timeout = 30000 } = {}) {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const log = recordPage(page);
    await page.goto(url);
    const result = page.locator('[data-testid="result"]');
    let text;
    try {
      await page.waitForFunction(
        () => {
          const el = document.querySelector('[data-testid="result"]');
          return el && el.textContent !== "pending";
        },
        null,
        { timeout },
      );
      text = await result.textContent();
    } catch (err) {
      throw new Error(`${url}: no result within ${timeout} ms (${err.message})\n${log()}`);
    }
    if (!text.startsWith("OK ")) throw new Error(`${url}: ${text}\n${log()}`);
    return JSON.parse(text.slice(3));
  } finally {
    await context.close();
  }
}

/** tests/js/snippets.cjs (the seed's snippets, verbatim) as an ES module, for bundled browser projects. */
export function snippetsModule() {
  const cjs = readFileSync(join(repoRoot, "tests/js/snippets.cjs"), "utf8");
  const esm = cjs.replace(/^"use strict";$/m, "").replace(/^module\.exports = (\{[^}]*\});$/m, "export $1;");
  if (esm === cjs || !/^export \{/m.test(esm)) throw new Error("snippets.cjs no longer has the expected shape");
  return { text: esm };
}

/** Checks the seed flow summary of fixtures/real-call.mjs `seedFlow`. */
export function expectSeedFlow(assert, s) {
  assert.deepEqual(s, {
    created: { name: "apiKeyName", key: "string" },
    lookUp: { appError: true, statusCode: 404, errorCode: "APIKeyNotFound" },
    disabled: true,
    deleted: true,
    remaining: 0,
  });
}

/** Checks the summary returned by fixtures/real-call.mjs (whichever target ran it). */
export function expectRealCall(assert, r) {
  assert.equal(r.current, true, "app.currentUser is the user that logged in");
  assert.match(r.userId, /^[0-9a-f]{24}$/, "user id is a 24-hex ObjectId");
  assert.equal(r.keyUserId, r.userId, "the API key logs in as its owner");
  assert.deepEqual(r.created, { id: "string", key: "string", name: "keep", disabled: false });
  assert.deepEqual(r.listed, [
    { name: "keep", disabled: false, hasKey: false },
    { name: "drop", disabled: false, hasKey: false },
  ]);
  assert.deepEqual(r.fetched, { id: true, name: "drop", disabled: true });
  assert.deepEqual(r.after, ["keep"]);
  assert.deepEqual(r.expiring, { created: true, listed: true }, "expiresAt round-trips (Date in, ms out)");
  assert.equal(r.neverExpires, true, "a key created without expiresAt never expires (null)");
  assert.deepEqual(r.duplicate, {
    appError: true,
    error: true,
    name: "AppError",
    statusCode: 409,
    errorCode: "APIKeyAlreadyExists",
  });
}
