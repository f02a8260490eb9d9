// examples-js/api-server, installed from the tarball like a user would: its API (Express + jose) trusts appkeys
// access tokens through the JWKS, and its service script logs in with a user API key through the SDK and is
// recognised by the API as the key's owner, through that key. Refresh tokens and forgeries are refused.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { copyExample, exec, npmInstallFlags, serverUrl } from "./lib.mjs";

/** Starts the example API on a free port; resolves to { url, stop() }. */
function startApi(dir) {
  const child = spawn("node", ["api.mjs"], {
    cwd: dir,
    env: { ...process.env, APPKEYS_URL: serverUrl, PORT: "0" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`api did not start:\n${log}`)), 30000);
    const onData = (d) => {
      log += d;
      const m = log.match(/api listening on (http:\/\/\S+)/);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1], stop: () => child.kill("SIGTERM") });
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => reject(new Error(`api exited ${code}:\n${log}`)));
  });
}

test("examples-js/api-server: a service with a user API key is recognised by the API as the key's owner", async () => {
  const { dir } = copyExample("api-server");
  await exec("npm", ["install", ...npmInstallFlags], { cwd: dir });
  const api = await startApi(dir);
  try {
    const { stdout } = await exec("node", ["service.mjs"], {
      cwd: dir,
      env: { APPKEYS_URL: serverUrl, API_URL: api.url },
    });
    assert.match(stdout, /Service call finished/);
    const owner = stdout.match(/owner\s+([0-9a-f]{24}) created key ([0-9a-f]{24})/);
    const answer = JSON.parse(stdout.match(/API says\s+200 (\{.*\})/)[1]);
    assert.ok(owner, stdout);
    assert.deepEqual(
      { userId: answer.userId, viaApiKey: answer.viaApiKey, apiKeyId: answer.apiKeyId, provider: answer.provider },
      { userId: owner[1], viaApiKey: true, apiKeyId: owner[2], provider: "api-key" },
    );
    // The API refuses what it must: no token, garbage, a refresh token (never verifiable with the JWKS).
    const login = await fetch(`${serverUrl}/api/client/v2.0/app/appkeys-demo/auth/providers/anon-user/login`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: "{}",
    }).then((r) => r.json());
    const whoami = (token) =>
      fetch(`${api.url}/whoami`, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
    for (const token of [null, "garbage", login.refresh_token]) {
      assert.equal((await whoami(token)).status, 401, `token ${token && token.slice(0, 12)}`);
    }
    const anon = await (await whoami(login.access_token)).json();
    assert.deepEqual([anon.provider, anon.viaApiKey], ["anon-user", false]);
    // Issue 32: scopes. A key created with { scopes: ["orders:read"] } reads orders but may not create them
    // (403 insufficient_scope, checked by the API with jose); its owner's session and a key without scopes may.
    const { App, Credentials } = await import(`${dir}/node_modules/appkeys/node/index.mjs`);
    const app = new App({ id: "appkeys-demo", baseUrl: serverUrl });
    const email = `scoped-${Date.now()}@example.com`;
    await app.emailPasswordAuth.registerUser({ email, password: "correct horse battery" });
    const keyOwner = await app.logIn(Credentials.emailPassword(email, "correct horse battery"));
    const reader = await keyOwner.apiKeys.create("reader", { scopes: ["orders:read"] });
    const plain = await keyOwner.apiKeys.create("plain");
    assert.deepEqual(reader.scopes, ["orders:read"]);
    const tokenOf = async (secret) => (await new App({ id: "appkeys-demo", baseUrl: serverUrl }).logIn(Credentials.apiKey(secret))).accessToken;
    const readerToken = await tokenOf(reader.key);
    const orders = (method, token) =>
      fetch(`${api.url}/orders`, { method, headers: { Authorization: `Bearer ${token}` } });
    assert.equal((await orders("GET", readerToken)).status, 200);
    const refused = await orders("POST", readerToken);
    assert.equal(refused.status, 403);
    assert.match(refused.headers.get("www-authenticate"), /insufficient_scope/);
    assert.equal((await orders("POST", await tokenOf(plain.key))).status, 201);
    assert.equal((await orders("POST", keyOwner.accessToken)).status, 201);
    assert.equal((await (await whoami(readerToken)).json()).scope, "orders:read");
    // And the service fails when the API does not trust it (a smoke test must be able to fail).
    await assert.rejects(
      exec("node", ["service.mjs"], {
        cwd: dir,
        env: { APPKEYS_URL: serverUrl, API_URL: "http://127.0.0.1:9", APPKEYS_API_KEY: "appk_invalid" },
      }),
      /Service call FAILED/,
    );
  } finally {
    api.stop();
  }
});
