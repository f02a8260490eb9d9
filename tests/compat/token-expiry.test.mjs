// realm-web 2.0.1 against an appkeys-server started with a 2-second access token lifetime:
// an expired access token is refreshed transparently (one POST auth/session, then the retried
// request succeeds), the refresh token stays the same, and API key calls (refresh token) keep working.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as Realm from "realm-web";
import { startServer } from "../support/server.mjs";
import { APP_ID, API, PASSWORD, TestStorage, raw, sleep, uniqueEmail } from "../support/util.mjs";

let server;
const requests = [];

/** realm-web's documented `fetch` option: every request it makes is recorded here. */
async function recordingFetch(url, init = {}) {
  const res = await globalThis.fetch(url, init);
  requests.push({ method: init.method || "GET", path: new URL(url).pathname, status: res.status });
  return res;
}

before(async () => {
  server = await startServer({ args: ["--access-token-ttl", "2"] });
});
after(async () => {
  await server?.stop();
});

function jwtPayload(token) {
  return JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString());
}

test("an expired access token is refreshed transparently by realm-web", async () => {
  const app = new Realm.App({ id: APP_ID, baseUrl: server.url, storage: new TestStorage(), fetch: recordingFetch });
  const email = uniqueEmail("ttl");
  await app.emailPasswordAuth.registerUser({ email, password: PASSWORD });
  const user = await app.logIn(Realm.Credentials.emailPassword(email, PASSWORD));
  const firstAccess = user.accessToken;
  const refreshToken = user.refreshToken;
  const claims = jwtPayload(firstAccess);
  assert.equal(claims.exp - claims.iat, 2, "the server honours --access-token-ttl");
  assert.equal(claims.typ, "access");
  assert.equal(claims.sub, user.id);

  await sleep(3100);
  // The server really refuses the old token now ...
  const direct = await raw(server.url, "GET", "/auth/profile", { token: firstAccess });
  assert.equal(direct.status, 401);
  assert.equal(direct.body.error_code, "InvalidSession");

  // ... and realm-web recovers without the caller noticing.
  requests.length = 0;
  await user.refreshProfile();
  assert.equal(user.profile.email, email);
  assert.deepEqual(
    requests.map((r) => `${r.method} ${r.path} ${r.status}`),
    [`GET ${API}/auth/profile 401`, `POST ${API}/auth/session ${requests[1]?.status}`, `GET ${API}/auth/profile 200`],
  );
  assert.ok(requests[1].status >= 200 && requests[1].status < 300);
  assert.notEqual(user.accessToken, firstAccess, "a new access token was stored");
  assert.equal(user.refreshToken, refreshToken, "the refresh token is not rotated");
  assert.equal(user.state, "active");

  // API key routes use the refresh token: they work with an expired access token, no refresh needed
  await sleep(3100);
  requests.length = 0;
  const created = await user.apiKeys.create("after-expiry");
  assert.equal(created.name, "after-expiry");
  assert.deepEqual((await user.apiKeys.fetchAll()).map((k) => k._id), [created._id]);
  assert.equal(requests.filter((r) => r.path.endsWith("/auth/session")).length, 0);

  // a session opened with the key also gets refreshed transparently
  const keyApp = new Realm.App({ id: APP_ID, baseUrl: server.url, storage: new TestStorage(), fetch: recordingFetch });
  const keyUser = await keyApp.logIn(Realm.Credentials.apiKey(created.key));
  assert.equal(keyUser.id, user.id);
  await sleep(3100);
  requests.length = 0;
  await keyUser.refreshProfile();
  assert.equal(requests.filter((r) => r.method === "POST" && r.path.endsWith("/auth/session")).length, 1);
  assert.equal(keyUser.state, "active");
});
