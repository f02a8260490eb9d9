// Issue 30: the web redirect flow in headless Chromium, with unmodified realm-web 2.0.1 and with appkeys, for
// Google, Apple and Facebook. The app page calls `app.logIn(Credentials.google({ redirectUrl }))` (or
// `.apple(url)`, `.facebook(url)`); the SDK opens the login window on appkeys-server, which sends it to a fake
// provider (Google and Facebook: authorization code with PKCE; Apple: its answer posted back as
// `form_post`, the code exchanged with a client secret appkeys signs with the team's key) and, after the
// callback, to the app's landing page, whose `handleAuthRedirect()` hands the tokens back to the app page.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { createHash, randomUUID } from "node:crypto";
import { mkdtempSync, copyFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { exportJWK, exportPKCS8, generateKeyPair, jwtVerify, SignJWT } from "jose";
import { startServer } from "../support/server.mjs";
import { bundleForBrowser, serveStatic, CHROMIUM_OPTIONS } from "./static.mjs";

const here = fileURLToPath(new URL(".", import.meta.url));
const CLIENT = "web.apps.googleusercontent.com";
const SERVICES_ID = "com.example.notes.web";
const TEAM = "TEAMBROWSR";
const FB_APP = "777";
const FB_SECRET = "facebook-browser-secret";
let server;
let site;
let fake;
let browser;
let outdir;
let teamKey;

const s256 = (verifier) => createHash("sha256").update(verifier || "").digest("base64url");

/** An ID token of `issuer` for `audience`, signed with `key`. */
function idToken(key, kid, issuer, audience, subject, claims) {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "RS256", kid })
    .setIssuer(issuer)
    .setSubject(subject)
    .setAudience(audience)
    .setIssuedAt()
    .setExpirationTime("10m")
    .sign(key);
}

/** Fake Google, Apple and Facebook, each approving at once. */
async function fakeProviders() {
  const { publicKey, privateKey } = await generateKeyPair("RS256");
  const jwk = { ...(await exportJWK(publicKey)), kid: `k-${randomUUID()}`, alg: "RS256", use: "sig" };
  const json = (res, status, body) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };
  const back = (res, to, params) => {
    const url = new URL(to);
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    res.writeHead(302, { location: url.toString() });
    res.end();
  };
  const http = createServer((req, res) => {
    const url = new URL(req.url, "http://x");
    const q = (k) => url.searchParams.get(k);
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", async () => {
      const form = new URLSearchParams(body);
      const f = (k) => form.get(k);
      switch (url.pathname) {
        case "/certs":
          return json(res, 200, { keys: [jwk] });
        case "/google/auth":
          return back(res, q("redirect_uri"), { code: `web-${q("code_challenge")}`, state: q("state") });
        case "/google/token": {
          if (f("client_id") !== CLIENT || f("code") !== `web-${s256(f("code_verifier"))}`) {
            return json(res, 400, { error: "invalid_grant" });
          }
          const claims = { name: "Brenda Browser", email: "brenda@example.com" };
          const token = await idToken(privateKey, jwk.kid, "https://accounts.google.com", CLIENT, "g-browser", claims);
          return json(res, 200, { id_token: token });
        }
        case "/apple/auth": {
          // Apple answers with a page that posts the code back (response_mode=form_post).
          if (q("response_mode") !== "form_post" || q("client_id") !== SERVICES_ID) return json(res, 400, {});
          const user = JSON.stringify({ name: { firstName: "Alma", lastName: "Apple" } });
          const field = (k, v) => `<input type="hidden" name="${k}" value="${v.replace(/"/g, "&quot;")}">`;
          res.writeHead(200, { "content-type": "text/html" });
          return res.end(
            `<!doctype html><form method="post" action="${q("redirect_uri")}">` +
              field("code", "apple-code") + field("state", q("state")) + field("user", user) +
              `</form><script>document.forms[0].submit()</script>`,
          );
        }
        case "/apple/token": {
          try {
            await jwtVerify(f("client_secret"), teamKey.publicKey, {
              issuer: TEAM, audience: "https://appleid.apple.com", subject: SERVICES_ID,
            });
          } catch {
            return json(res, 400, { error: "invalid_client" });
          }
          if (f("code") !== "apple-code") return json(res, 400, { error: "invalid_grant" });
          const token = await idToken(privateKey, jwk.kid, "https://appleid.apple.com", SERVICES_ID, "a-browser", {});
          return json(res, 200, { id_token: token });
        }
        case "/facebook/dialog":
          return back(res, q("redirect_uri"), { code: `fb-${q("code_challenge")}`, state: q("state") });
        case "/graph/oauth/access_token":
          if (q("client_secret") !== FB_SECRET || q("code") !== `fb-${s256(q("code_verifier"))}`) {
            return json(res, 400, { error: { message: "bad code" } });
          }
          return json(res, 200, { access_token: "fb-browser-token" });
        case "/graph/debug_token":
          return json(res, 200, {
            data: { app_id: FB_APP, is_valid: q("input_token") === "fb-browser-token", user_id: "fb-7" },
          });
        case "/graph/me":
          return json(res, 200, { id: "fb-7", name: "Fern Facebook" });
        default:
          res.writeHead(404).end();
      }
    });
  });
  await new Promise((r) => http.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${http.address().port}`,
    close: () => {
      // appkeys-server's pooled connections (and any a browser left) must not hold the close.
      const closed = new Promise((r) => http.close(r));
      http.closeAllConnections();
      return closed;
    },
  };
}

before(async () => {
  outdir = mkdtempSync(join(tmpdir(), "appkeys-oauth-"));
  const pages = ["oauth-app", "oauth-done-realm-web", "oauth-done-appkeys"];
  for (const page of pages) {
    await bundleForBrowser(join(here, `${page}.mjs`), outdir, `${page}.js`);
    copyFileSync(join(here, `${page}.html`), join(outdir, `${page}.html`));
  }
  teamKey = await generateKeyPair("ES256", { extractable: true });
  [site, fake, browser] = await Promise.all([serveStatic(outdir), fakeProviders(), chromium.launch(CHROMIUM_OPTIONS)]);
  const file = (name, text) => {
    writeFileSync(join(outdir, name), text, { mode: 0o600 });
    return join(outdir, name);
  };
  const u = fake.url;
  server = await startServer({
    args: [
      "--google-client-id", CLIENT, "--google-client-secret-file", file("google-secret", "google-web-client-secret\n"),
      "--google-jwks-url", `${u}/certs`, "--google-token-url", `${u}/google/token`, "--google-auth-url", `${u}/google/auth`,
      "--apple-client-id", SERVICES_ID, "--apple-jwks-url", `${u}/certs`, "--apple-team-id", TEAM,
      "--apple-key-id", "BROWSERKEY", "--apple-private-key-file", file("apple.p8", await exportPKCS8(teamKey.privateKey)),
      "--apple-auth-url", `${u}/apple/auth`, "--apple-token-url", `${u}/apple/token`,
      "--facebook-app-id", FB_APP, "--facebook-app-secret-file", file("fb-secret", `${FB_SECRET}\n`),
      "--facebook-graph-url", `${u}/graph`, "--facebook-auth-url", `${u}/facebook/dialog`,
      "--oauth-redirect-url", `${site.url}/oauth-done-realm-web.html`,
      "--oauth-redirect-url", `${site.url}/oauth-done-appkeys.html`,
    ],
  });
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await fake?.close();
  await site?.close();
  if (outdir) rmSync(outdir, { recursive: true, force: true });
});

const expected = {
  google: { providerType: "oauth2-google", id: "g-browser", name: "Brenda Browser" },
  apple: { providerType: "oauth2-apple", id: "a-browser", name: "Alma Apple" },
  facebook: { providerType: "oauth2-facebook", id: "fb-7", name: "Fern Facebook" },
};
const firstUser = {};

for (const sdk of ["realm-web", "appkeys"]) {
  for (const provider of Object.keys(expected)) {
    test(`${sdk}: the ${provider} redirect flow logs in through the login window`, async () => {
      const context = await browser.newContext();
      const page = await context.newPage();
      const problems = [];
      page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
      const popup = context.waitForEvent("page");
      const query = new URLSearchParams({ server: server.url, sdk, provider });
      await page.goto(`${site.url}/oauth-app.html?${query}`);
      const win = await popup;
      await page.waitForFunction(() => window.__result !== undefined, null, { timeout: 30000 });
      const result = await page.evaluate(() => window.__result);
      const want = expected[provider];
      assert.equal(result.error, undefined, JSON.stringify(result));
      assert.equal(result.providerType, want.providerType);
      assert.deepEqual(result.identities, [[want.providerType, want.id]]);
      assert.equal(result.name, want.name);
      assert.equal(result.loggedIn, true);
      assert.equal(result.current, true);
      // Both SDKs reach the same user of that identity.
      firstUser[provider] ??= result.id;
      assert.equal(result.id, firstUser[provider]);
      // The window went to the landing page and was closed by the SDK; no _baas_ result stays behind.
      assert.ok(win.isClosed() || win.url().startsWith(`${site.url}/oauth-done-${sdk}.html`), win.url());
      const leftovers = await page.evaluate(() => Object.keys(localStorage).filter((k) => k.includes("oauth2")));
      assert.deepEqual(leftovers, []);
      assert.deepEqual(problems, []);
      await context.close();
    });
  }
}

test("appkeys: a login window closed before the end rejects with 'Window closed'", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  context.on("page", (win) => win.close());
  const query = new URLSearchParams({ server: server.url, sdk: "appkeys", provider: "google" });
  await page.goto(`${site.url}/oauth-app.html?${query}`);
  await page.waitForFunction(() => window.__result !== undefined, null, { timeout: 30000 });
  assert.deepEqual(await page.evaluate(() => window.__result), { error: "Window closed" });
  await context.close();
});
