// Issue 30: the web redirect flow with unmodified realm-web 2.0.1 in headless Chromium. The app page calls
// `app.logIn(Credentials.google({ redirectUrl }))`; realm-web opens the login window on appkeys-server, which sends
// it to a fake Google (authorization code with PKCE; RS256 ID tokens made with jose) and, after the callback, to
// the app's landing page, whose `handleAuthRedirect()` hands the tokens back to the app page.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { createHash, randomUUID } from "node:crypto";
import { mkdtempSync, copyFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { startServer } from "../support/server.mjs";
import { bundleForBrowser, serveStatic, CHROMIUM_OPTIONS } from "./static.mjs";

const here = fileURLToPath(new URL(".", import.meta.url));
const CLIENT = "web.apps.googleusercontent.com";
let server;
let site;
let google;
let browser;
let outdir;

async function fakeGoogle() {
  const { publicKey, privateKey } = await generateKeyPair("RS256");
  const jwk = { ...(await exportJWK(publicKey)), kid: `g-${randomUUID()}`, alg: "RS256", use: "sig" };
  const http = createServer((req, res) => {
    const url = new URL(req.url, "http://x");
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", async () => {
      if (url.pathname === "/certs") {
        res.writeHead(200, { "content-type": "application/json" });
        return res.end(JSON.stringify({ keys: [jwk] }));
      }
      if (url.pathname === "/auth") {
        // The consent screen, approved at once.
        const back = new URL(url.searchParams.get("redirect_uri"));
        back.searchParams.set("code", `web-${url.searchParams.get("code_challenge")}`);
        back.searchParams.set("state", url.searchParams.get("state"));
        res.writeHead(302, { location: back.toString() });
        return res.end();
      }
      if (url.pathname === "/token") {
        const form = new URLSearchParams(body);
        const made = createHash("sha256").update(form.get("code_verifier") || "").digest("base64url");
        if (form.get("client_id") !== CLIENT || form.get("code") !== `web-${made}`) {
          res.writeHead(400, { "content-type": "application/json" });
          return res.end(JSON.stringify({ error: "invalid_grant" }));
        }
        const idToken = await new SignJWT({ name: "Brenda Browser", email: "brenda@example.com" })
          .setProtectedHeader({ alg: "RS256", kid: jwk.kid })
          .setIssuer("https://accounts.google.com")
          .setSubject("g-browser")
          .setAudience(CLIENT)
          .setIssuedAt()
          .setExpirationTime("10m")
          .sign(privateKey);
        res.writeHead(200, { "content-type": "application/json" });
        return res.end(JSON.stringify({ id_token: idToken }));
      }
      res.writeHead(404).end();
    });
  });
  await new Promise((r) => http.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${http.address().port}`, close: () => new Promise((r) => http.close(r)) };
}

before(async () => {
  outdir = mkdtempSync(join(tmpdir(), "appkeys-oauth-"));
  await bundleForBrowser(join(here, "oauth-app.mjs"), outdir, "oauth-app.js");
  await bundleForBrowser(join(here, "oauth-done.mjs"), outdir, "oauth-done.js");
  for (const page of ["oauth-app.html", "oauth-done.html"]) copyFileSync(join(here, page), join(outdir, page));
  [site, google, browser] = await Promise.all([serveStatic(outdir), fakeGoogle(), chromium.launch(CHROMIUM_OPTIONS)]);
  const secret = join(outdir, "google-secret");
  writeFileSync(secret, "google-web-client-secret\n", { mode: 0o600 });
  server = await startServer({
    args: [
      "--google-client-id", CLIENT, "--google-client-secret-file", secret,
      "--google-jwks-url", `${google.url}/certs`, "--google-token-url", `${google.url}/token`,
      "--google-auth-url", `${google.url}/auth`,
      "--oauth-redirect-url", `${site.url}/oauth-done.html`,
    ],
  });
});

after(async () => {
  await browser?.close();
  await site?.close();
  await google?.close();
  await server?.stop();
  if (outdir) rmSync(outdir, { recursive: true, force: true });
});

test("realm-web's Credentials.google({ redirectUrl }) logs in through the login window", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  const popup = context.waitForEvent("page");
  await page.goto(`${site.url}/oauth-app.html?server=${encodeURIComponent(server.url)}`);
  const win = await popup;
  await page.waitForFunction(() => window.__result !== undefined, null, { timeout: 30000 });
  const result = await page.evaluate(() => window.__result);
  assert.equal(result.error, undefined, JSON.stringify(result));
  assert.equal(result.providerType, "oauth2-google");
  assert.deepEqual(result.identities, [["oauth2-google", "g-browser"]]);
  assert.equal(result.name, "Brenda Browser");
  assert.equal(result.loggedIn, true);
  // The window went to the landing page and was closed by realm-web; no _baas_ result stays behind.
  assert.ok(win.isClosed() || win.url().startsWith(`${site.url}/oauth-done.html`), win.url());
  const leftovers = await page.evaluate(() => Object.keys(localStorage).filter((k) => k.includes("oauth2")));
  assert.deepEqual(leftovers, []);
  assert.deepEqual(problems, []);
  await context.close();
});
