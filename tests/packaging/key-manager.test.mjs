// examples-js/key-manager, built from the tarball like a user would (npm install + vite build), driven in
// headless Chromium: register/log in, create a key (secret shown once, Copy), toggle it, delete it with the
// confirmation, errors in the page. Each UI action is cross-checked against the server with a raw HTTP
// login using the key's secret. Screenshot: artifacts/key-manager.png. Then, against a server of its own
// that emails through a real SMTP server: "check your inbox" after registering, the confirmation link, "Forgot
// password?" and the reset page. And signing in with a custom JWT of the example identity provider.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import {
  artifactsDir,
  copyExample,
  exec,
  launchChromium,
  npmInstallFlags,
  recordPage,
  serveStatic,
  serverUrl,
  toolVersion,
} from "./lib.mjs";
import { freePort, serverBin, startServer } from "../support/server.mjs";
import { linkOf, startSmtpSink } from "../support/smtp-sink.mjs";
import { startIdentityProvider } from "../../examples-js/identity-provider/idp.mjs";

/** The server's default shortest password, as its `--help` prints it (`[default: N]` of --min-password-length). */
function serverMinPasswordLength() {
  const help = execFileSync(serverBin, ["--help"], { encoding: "utf8" });
  const after = help.slice(help.indexOf("--min-password-length"));
  return Number(/\[default: (\d+)\]/.exec(after)[1]);
}

let browser;
let site;
let exampleDir;
before(async () => {
  browser = await launchChromium();
});
after(async () => {
  await site?.close();
  await browser?.close();
});

/** Logs in with an API key straight over HTTP (no SDK): resolves to the HTTP status and user id. */
async function keyLogin(secret) {
  const res = await fetch(`${serverUrl}/api/client/v2.0/app/appkeys-demo/auth/providers/api-key/login`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify({ key: secret }),
  });
  const body = await res.json().catch(() => null);
  return { status: res.status, userId: body && body.user_id };
}

test("key manager example builds from the tarball with Vite", async () => {
  const { dir } = copyExample("key-manager");
  exampleDir = dir;
  await exec("npm", ["install", ...npmInstallFlags], { cwd: dir });
  const viteVersion = JSON.parse((await exec("node", ["-p", "JSON.stringify(require('vite/package.json').version)"], { cwd: dir })).stdout);
  assert.equal(viteVersion, toolVersion("vite"), "the example uses the repository's Vite version");
  await exec("npm", ["run", "build", "--", "--logLevel", "warn"], { cwd: dir });
  const dist = join(dir, "dist");
  assert.ok(!readdirSync(dist, { recursive: true }).some((f) => String(f).endsWith(".wasm")), "no separate wasm asset");
  site = await serveStatic(dist);
});

test("key manager: register, create (secret once + copy), toggle, delete, errors in the page", async (t) => {
  assert.ok(site, "the build test ran first");
  const context = await browser.newContext({ viewport: { width: 1400, height: 760 } });
  t.after(() => context.close());
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: site.url });
  const page = await context.newPage();
  const log = recordPage(page);
  const id = (testid) => page.getByTestId(testid);
  const row = (name) => page.locator(`[data-testid="key-row"][data-key-name="${name}"]`);
  const step = async (name, fn) => {
    try {
      await fn();
    } catch (err) {
      err.message = `${name}: ${err.message}\n--- page log\n${log()}`;
      throw err;
    }
  };
  const email = `km-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}@example.com`;
  const password = `Pw-${Math.random().toString(36).slice(2)}`;
  let secret;
  let userId;

  await step("page loads with the server from ?server=", async () => {
    await page.goto(`${site.url}/?server=${encodeURIComponent(serverUrl)}`);
    await page.locator('body[data-ready="true"]').waitFor();
    assert.match(await id("server-url").textContent(), new RegExp(serverUrl.replace(/[.]/g, "\\.")));
    await id("auth").waitFor();
  });

  await step("logging in an unknown user shows the server's error", async () => {
    await id("email").fill(email);
    await id("password").fill(password);
    await id("login").click();
    await id("error").waitFor();
    assert.match(await id("error").textContent(), /^401 /);
    assert.equal(await id("keys").isVisible(), false);
  });

  await step("a new password shorter than the server's minimum is refused in the page, before any request", async () => {
    const min = serverMinPasswordLength();
    await id("password").fill("x".repeat(min - 1));
    await id("register").click();
    await id("error").waitFor();
    assert.equal(await id("error").textContent(), `A new password has ${min} to 128 characters.`);
    await id("password").fill(password);
  });

  await step("create account logs in and shows the empty key list", async () => {
    await id("register").click();
    await id("keys-empty").waitFor();
    assert.equal(await id("error").isVisible(), false, "error cleared");
    const session = await id("session-user").textContent();
    assert.ok(session.includes(email), `session shows the email: ${session}`);
    userId = session.match(/[0-9a-f]{24}/)[0];
  });

  await step("create a key: secret shown once, copy button copies it", async () => {
    await id("key-name").fill("ci-key");
    await id("create-key").click();
    await id("new-key").waitFor();
    secret = (await id("new-key-secret").textContent()).trim();
    assert.ok(secret.length >= 16, "a secret is shown");
    assert.equal(await id("new-key-name").textContent(), "ci-key");
    await row("ci-key").waitFor();
    assert.equal(await row("ci-key").getByTestId("key-status").textContent(), "Enabled");
    assert.equal(await row("ci-key").textContent().then((t) => t.includes(secret)), false, "list never shows it");
    await id("copy-secret").click();
    await page.getByText("Copied to the clipboard.").waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret);
    assert.deepEqual(await keyLogin(secret), { status: 200, userId }, "the shown secret logs in as this user");
    // How a service calls your API with it (issue 20): the snippet names this key and the access token.
    await id("use-key").locator("summary").click();
    const snippet = await id("use-key-snippet").textContent();
    assert.ok(snippet.includes(`Credentials.apiKey("${secret}")`), snippet);
    assert.match(snippet, /Authorization: `Bearer \$\{service\.accessToken\}`/);
  });

  await step("a duplicate name shows 409 APIKeyAlreadyExists in the page", async () => {
    await id("key-name").fill("ci-key");
    await id("create-key").click();
    await id("error").waitFor();
    assert.match(await id("error").textContent(), /^409 APIKeyAlreadyExists/);
    assert.equal(await page.locator('[data-testid="key-row"]').count(), 1);
  });

  await step("second key; disable the first with its toggle", async () => {
    await id("key-name").fill("nightly-backup");
    await id("create-key").click();
    await row("nightly-backup").waitFor();
    assert.equal(await id("error").isVisible(), false);
    await row("ci-key").getByTestId("key-toggle").click();
    await page.locator('[data-testid="key-row"][data-key-name="ci-key"][data-disabled="true"]').waitFor();
    assert.equal(await row("ci-key").getByTestId("key-status").textContent(), "Disabled");
    assert.equal((await keyLogin(secret)).status, 401, "the disabled key is refused by the server");
  });

  await step("an expiring key: created for 30 days, listed with its expiry; an expired key is marked", async () => {
    await id("key-name").fill("expires-30d");
    await id("key-expiry").selectOption("30");
    await id("create-key").click();
    await row("expires-30d").waitFor();
    assert.equal(await row("expires-30d").getByTestId("key-expires").textContent(), "in 30 days");
    assert.equal(await row("expires-30d").getByTestId("key-last-used").textContent(), "never");
    assert.equal(await row("nightly-backup").getByTestId("key-expires").textContent(), "never");
    // The choice "a date" shows a date field.
    await id("key-expiry").selectOption("date");
    assert.equal(await id("key-expiry-date").isVisible(), true);
    await id("key-expiry").selectOption("never");
    // A key that expires in a second (made through the API with this session's refresh token), after a reload.
    const stored = await page.evaluate(() => Object.entries(localStorage));
    const refresh = stored.find(([k]) => k.endsWith(":refreshToken"))[1];
    const res = await fetch(`${serverUrl}/api/client/v2.0/auth/api_keys`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${refresh}` },
      body: JSON.stringify({ name: "short-lived", expiresAt: Date.now() + 1000 }),
    });
    assert.equal(res.status, 201);
    await new Promise((r) => setTimeout(r, 1500));
    await page.reload();
    await row("short-lived").waitFor();
    assert.equal(await row("short-lived").getAttribute("data-expired"), "true");
    assert.equal(await row("short-lived").getByTestId("key-expired").textContent(), "Expired");
    assert.equal(await row("expires-30d").getAttribute("data-expired"), "false");
  });

  await step("issue 32: a scoped, allow-listed key; its logins in the 30-day chart; Roll with a grace period", async () => {
    await id("key-name").fill("orders-reader");
    await id("key-scopes").fill("orders:read");
    await id("key-allowed-ips").fill("127.0.0.1, 2001:db8::/32");
    await id("create-key").click();
    await row("orders-reader").waitFor();
    const scoped = (await id("new-key-secret").textContent()).trim();
    assert.equal(await row("orders-reader").getByTestId("key-scopes-cell").textContent(), "orders:read");
    assert.equal(await row("orders-reader").getByTestId("key-allowed-cell").textContent(), "127.0.0.1, 2001:db8::/32");
    assert.equal(await row("nightly-backup").getByTestId("key-scopes-cell").textContent(), "as owner");
    for (let i = 0; i < 3; i++) assert.equal((await keyLogin(scoped)).status, 200);
    // The server writes usage in aggregate (every second here): reload until today's bar shows the 3 logins.
    const deadline = Date.now() + 20000;
    for (;;) {
      await page.reload();
      await row("orders-reader").waitFor();
      const bars = row("orders-reader").locator("svg.usage rect");
      assert.equal(await bars.count(), 30, "one bar per day");
      if ((await bars.last().getAttribute("data-logins")) === "3") break;
      assert.ok(Date.now() < deadline, "today's logins never showed");
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.match(await row("orders-reader").getByTestId("key-usage-total").getAttribute("title"),
      /3 logins in 30 days, last from 127\.0\.0\.1/);
    // Roll, keeping the old secret for an hour: both log in; the page shows the new one once.
    await row("orders-reader").getByTestId("key-roll-grace").selectOption("3600");
    await row("orders-reader").getByTestId("key-roll").click();
    await page.getByText(/Key orders-reader rolled: the old secret works until/).waitFor();
    const rolled = (await id("new-key-secret").textContent()).trim();
    assert.notEqual(rolled, scoped);
    assert.equal((await keyLogin(scoped)).status, 200, "the old secret works during its grace period");
    assert.equal((await keyLogin(rolled)).status, 200, "the new one works");
    assert.equal(await row("orders-reader").getByTestId("key-scopes-cell").textContent(), "orders:read", "scopes kept");
    mkdirSync(artifactsDir, { recursive: true });
    await page.screenshot({ path: join(artifactsDir, "key-manager.png"), fullPage: true });
  });

  await step("reload: session restored from storage, state from the server, secret gone", async () => {
    await page.reload();
    await page.locator('body[data-ready="true"]').waitFor();
    await row("nightly-backup").waitFor();
    assert.equal(await row("ci-key").getAttribute("data-disabled"), "true");
    assert.equal(await id("new-key").isVisible(), false, "the secret is not kept across reloads");
    assert.equal(await page.evaluate((s) => JSON.stringify(localStorage).includes(s), secret), false,
      "the secret is not in localStorage");
  });

  await step("enable it again with the toggle", async () => {
    await row("ci-key").getByTestId("key-toggle").click();
    await page.locator('[data-testid="key-row"][data-key-name="ci-key"][data-disabled="false"]').waitFor();
    assert.equal(await row("ci-key").getByTestId("key-status").textContent(), "Enabled");
    assert.equal((await keyLogin(secret)).status, 200);
  });

  await step("delete asks for confirmation; cancel keeps the key, confirm deletes it", async () => {
    await row("ci-key").getByTestId("key-delete").click();
    assert.match(await row("ci-key").getByTestId("key-delete-question").textContent(), /Delete “ci-key”\?/);
    await row("ci-key").getByTestId("key-delete-cancel").click();
    await row("ci-key").getByTestId("key-delete").waitFor();
    assert.equal((await keyLogin(secret)).status, 200, "cancel did not delete");
    await row("ci-key").getByTestId("key-delete").click();
    await row("ci-key").getByTestId("key-delete-confirm").click();
    await row("ci-key").waitFor({ state: "detached" });
    assert.equal(await page.locator('[data-testid="key-row"]').count(), 4,
      "nightly-backup, expires-30d, short-lived, orders-reader");
    assert.equal((await keyLogin(secret)).status, 401, "the deleted key is refused by the server");
  });

  await step("log out returns to the sign-in form", async () => {
    await id("logout").click();
    await id("auth").waitFor();
    assert.equal(await id("keys").isVisible(), false);
  });
});

test("key manager: confirmation link, forgot password and the reset page (real SMTP)", async (t) => {
  assert.ok(site, "the build test ran first");
  const sink = await startSmtpSink();
  let mailServer;
  t.after(async () => {
    await mailServer?.stop();
    await sink.close();
  });
  const port = await freePort();
  const mailServerUrl = `http://127.0.0.1:${port}`;
  const page0 = `${site.url}/?server=${encodeURIComponent(mailServerUrl)}`;
  mailServer = await startServer({
    listen: `127.0.0.1:${port}`,
    args: [
      "--email-confirmation",
      "--smtp-url", sink.url,
      "--confirm-url", `${page0}&action=confirm`,
      "--reset-url", `${page0}&action=reset`,
    ],
  });
  const context = await browser.newContext({ viewport: { width: 1400, height: 760 } });
  t.after(() => context.close());
  const page = await context.newPage();
  const log = recordPage(page);
  const id = (testid) => page.getByTestId(testid);
  const step = async (name, fn) => {
    try {
      await fn();
    } catch (err) {
      err.message = `${name}: ${err.message}\n--- page log\n${log()}\n--- server\n${mailServer.logs()}`;
      throw err;
    }
  };
  const email = `km-reset-${Date.now().toString(36)}@example.com`;
  const password = "first-password";
  const mailTo = (word) => sink.waitFor((m) => m.to.includes(email) && m.subject.includes(word));

  await step("registering shows 'check your inbox' (confirmation on)", async () => {
    await page.goto(page0);
    await page.locator('body[data-ready="true"]').waitFor();
    await id("email").fill(email);
    await id("password").fill(password);
    await id("register").click();
    await page.getByText("Check your inbox").waitFor();
    await id("unconfirmed").waitFor();
    assert.equal(await id("keys").isVisible(), false, "not logged in");
  });

  await step("the confirmation link confirms; login works", async () => {
    const { url } = linkOf(await mailTo("Confirm"));
    assert.equal(url.searchParams.get("action"), "confirm");
    await page.goto(url.toString());
    await page.getByText("Email confirmed").waitFor();
    assert.equal(new URL(page.url()).searchParams.get("token"), null, "the token left the address bar");
    await id("email").fill(email);
    await id("password").fill(password);
    await id("login").click();
    await id("keys-empty").waitFor();
    await id("logout").click();
    await id("auth").waitFor();
  });

  await step("Forgot password? sends the reset email", async () => {
    await id("email").fill(email);
    await id("forgot").click();
    await page.getByText("a password reset link is on its way").waitFor();
  });

  await step("the reset page sets the new password, ends this browser's session; the old password is refused", async () => {
    // Signed in while the link is opened: the reset ends that session too.
    await id("password").fill(password);
    await id("login").click();
    await id("keys-empty").waitFor();
    const { url } = linkOf(await mailTo("Reset"));
    await page.goto(url.toString());
    await id("reset").waitFor();
    const min = serverMinPasswordLength();
    assert.equal(await id("new-password").getAttribute("minlength"), String(min), "the server's rule");
    assert.equal(await id("new-password").getAttribute("maxlength"), "128");
    assert.match(await id("password-hint").textContent(), new RegExp(`^${min} to 128 characters\\.`));
    assert.equal(await id("auth").isVisible(), false);
    assert.equal(await id("keys").isVisible(), false);
    await id("new-password").fill("second-password");
    await id("reset-submit").click();
    await page.getByText("Password changed").waitFor();
    await id("auth").waitFor();
    assert.equal(await id("session").isVisible(), false, "the ended session is logged out");
    await id("email").fill(email);
    await id("password").fill(password);
    await id("login").click();
    await id("error").waitFor();
    assert.match(await id("error").textContent(), /^401 InvalidPassword/);
    await id("password").fill("second-password");
    await id("login").click();
    await id("keys-empty").waitFor();
  });

  await step("a used reset link shows the server's error", async () => {
    const { url } = linkOf(await mailTo("Reset"));
    await page.goto(url.toString());
    await id("new-password").fill("third-password");
    await id("reset-submit").click();
    await id("error").waitFor();
    assert.match(await id("error").textContent(), /^400 UserpassTokenInvalid/);
  });
});

test("key manager: sign in through the demo identity provider (custom JWT), then manage keys", async (t) => {
  assert.ok(site, "the build test ran first");
  const idp = await startIdentityProvider({ audience: "appkeys-demo" });
  const jwtServer = await startServer({
    args: ["--custom-jwt-jwks-url", idp.jwksUrl, "--custom-jwt-issuer", idp.issuer, "--custom-jwt-metadata", "name=name"],
  });
  t.after(async () => {
    await jwtServer.stop();
    await idp.close();
  });
  const context = await browser.newContext({ viewport: { width: 1400, height: 760 } });
  t.after(() => context.close());
  const page = await context.newPage();
  const log = recordPage(page);
  const id = (testid) => page.getByTestId(testid);
  const username = `ada${Date.now().toString(36)}`;
  try {
    await page.goto(`${site.url}/?server=${encodeURIComponent(jwtServer.url)}&idp=${encodeURIComponent(idp.url)}`);
    await id("idp-user").fill(username);
    await id("jwt-login").click();
    await id("keys-empty").waitFor();
    assert.match(await id("session-user").textContent(), new RegExp(`^${username} \\([0-9a-f]{24}\\)$`));
    await id("key-name").fill("jwt-user-key");
    await id("create-key").click();
    await id("new-key").waitFor();
    const secret = (await id("new-key-secret").textContent()).trim();
    assert.ok(secret.startsWith("appk_"), secret);
    // The key is the JWT user's: its login names the same user as a login with a token of that subject.
    const login = (provider, body) =>
      fetch(`${jwtServer.url}/api/client/v2.0/app/appkeys-demo/auth/providers/${provider}/login`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      }).then((r) => r.json());
    const byKey = await login("api-key", { key: secret });
    const byToken = await login("custom-token", { token: await idp.issue(`demo|${username}`) });
    assert.equal(byKey.user_id, byToken.user_id);
    // A pasted token that is not valid shows the server's error in the page.
    await id("logout").click();
    await id("jwt").fill("not-a-token");
    await id("jwt-login").click();
    await id("error").waitFor();
    assert.match(await id("error").textContent(), /^401 AuthError/);
  } catch (err) {
    err.message = `${err.message}\n--- page log\n${log()}\n--- server\n${jwtServer.logs()}`;
    throw err;
  }
});

test("key manager under `npm run dev` (Vite dev server) loads the SDK and reaches the server", async (t) => {
  assert.ok(exampleDir, "the build test ran first");
  const vite = spawn(join(exampleDir, "node_modules/.bin/vite"), ["--host", "127.0.0.1", "--port", "0"], {
    cwd: exampleDir,
    stdio: ["ignore", "pipe", "pipe"],
  });
  t.after(() => vite.kill("SIGTERM"));
  let output = "";
  const devUrl = await new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`vite dev did not start in 30 s:\n${output}`)), 30000);
    const onData = (d) => {
      output += d;
      // eslint-disable-next-line no-control-regex
      const m = output.replace(/\x1b\[[0-9;]*m/g, "").match(/Local:\s+(http:\/\/127\.0\.0\.1:\d+)\//);
      if (m) {
        clearTimeout(timer);
        resolvePromise(m[1]);
      }
    };
    vite.stdout.on("data", onData);
    vite.stderr.on("data", onData);
    vite.on("exit", (code) => reject(new Error(`vite dev exited ${code}:\n${output}`)));
  });
  const context = await browser.newContext();
  t.after(() => context.close());
  const page = await context.newPage();
  const log = recordPage(page);
  try {
    await page.goto(`${devUrl}/?server=${encodeURIComponent(serverUrl)}`);
    await page.locator('body[data-ready="true"]').waitFor({ timeout: 30000 });
    await page.getByTestId("auth").waitFor();
    await page.getByTestId("email").fill("nobody-dev@example.com");
    await page.getByTestId("password").fill("not-the-password");
    await page.getByTestId("login").click();
    await page.getByTestId("error").waitFor();
    assert.match(await page.getByTestId("error").textContent(), /^401 /);
  } catch (err) {
    err.message += `\n--- page log\n${log()}\n--- vite\n${output}`;
    throw err;
  }
});
