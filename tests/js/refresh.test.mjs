// The built package against an appkeys-server with a 2-second access token lifetime, behind a
// recording proxy: an expired access token is refreshed transparently, 20 concurrent calls with an
// expired access token share EXACTLY one refresh, refresh-token calls never refresh.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { App, Credentials, AppError } from "appkeys";
import { API, APP_ID, PASSWORD, sleep, uniqueEmail } from "../support/util.mjs";
import { startProxiedServer, rejectsAppError } from "./helpers.mjs";

let env;
before(async () => {
  env = await startProxiedServer(["--access-token-ttl", "2"]);
});
after(async () => {
  await env?.stop();
});

const SESSION = `${API}/auth/session`;
const PROFILE = `${API}/auth/profile`;

async function logIn(tag) {
  const app = new App({ id: APP_ID, baseUrl: env.url });
  const email = uniqueEmail(tag);
  await app.emailPasswordAuth.registerUser({ email, password: PASSWORD });
  const user = await app.logIn(Credentials.emailPassword(email, PASSWORD));
  return { app, user, email };
}

const claims = (jwt) => JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString());

test("expired access tokens: transparent refresh, one shared refresh for 20 concurrent calls", async (t) => {
  // three sessions whose access tokens expire together
  const a = await logIn("single");
  const b = await logIn("concurrent");
  const c = await logIn("delete");
  const aAccess = a.user.accessToken;
  const aRefresh = a.user.refreshToken;
  const bAccess = b.user.accessToken;
  const { exp, iat } = claims(aAccess);
  assert.equal(exp - iat, 2, "the server was started with --access-token-ttl 2");
  await sleep(3100);

  await t.test("one call: 401 InvalidSession, one refresh, one retry, success", async () => {
    env.proxy.clear();
    await a.user.refreshProfile();
    assert.deepEqual(
      env.proxy.log.map((e) => `${e.method} ${e.path.split("?")[0]}`),
      [`GET ${PROFILE}`, `POST ${SESSION}`, `GET ${PROFILE}`],
    );
    assert.deepEqual(env.proxy.log.map((e) => e.status).filter((s) => s !== 200 && s !== 201), [401]);
    assert.notEqual(a.user.accessToken, aAccess, "a new access token");
    assert.equal(a.user.refreshToken, aRefresh, "the refresh token stays the same");
    assert.equal(a.user.isLoggedIn, true);
    assert.ok(claims(a.user.accessToken).exp * 1000 > Date.now());
  });

  await t.test("20 concurrent calls: exactly one POST auth/session", async () => {
    env.proxy.clear();
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => b.user.refreshProfile()));
    assert.deepEqual(
      results.filter((r) => r.status === "rejected").map((r) => String(r.reason)),
      [],
      "all 20 calls succeed",
    );
    assert.equal(env.proxy.count("POST", SESSION), 1, "exactly one refresh");
    const profiles = env.proxy.log.filter((e) => e.method === "GET" && e.path === PROFILE);
    assert.ok(profiles.some((e) => e.status === 401), "the expired token was really sent and refused");
    assert.equal(profiles.filter((e) => e.status === 200).length, 20, "each call succeeded once");
    assert.ok(profiles.length <= 40, "each call retried at most once");
    assert.notEqual(b.user.accessToken, bAccess);
    assert.equal(b.user.isLoggedIn, true);
  });

  await t.test("refresh-token calls (API keys) do not refresh the access token", async () => {
    env.proxy.clear();
    const k = await a.user.apiKeys.create("k");
    await sleep(3100); // a's access token is expired again
    await a.user.apiKeys.fetchAll();
    await a.user.apiKeys.disable(k._id);
    assert.equal(env.proxy.count("POST", SESSION), 0);
  });

  await t.test("deleteUser with an expired access token refreshes and deletes", async () => {
    env.proxy.clear();
    await c.app.deleteUser(c.user);
    assert.equal(env.proxy.count("POST", SESSION), 1);
    assert.equal(env.proxy.count("DELETE", `${API}/auth/delete`), 2);
    assert.equal(c.app.currentUser, null);
    await rejectsAppError(AppError, c.app.logIn(Credentials.emailPassword(c.email, PASSWORD)), 401, "InvalidPassword");
  });
});

test("refreshAccessToken() with a revoked refresh token logs the user out", async () => {
  const { app, user } = await logIn("logout401");
  const refreshToken = user.refreshToken;
  // revoke the session behind the SDK's back (as a logOut from elsewhere would)
  const res = await fetch(env.url + SESSION, { method: "DELETE", headers: { Authorization: `Bearer ${refreshToken}` } });
  assert.equal(res.status, 204);
  env.proxy.clear();
  await rejectsAppError(AppError, user.refreshAccessToken(), 401, "InvalidSession", { method: "POST", path: "/auth/session" });
  assert.equal(env.proxy.count("POST", SESSION), 1);
  assert.equal(user.isLoggedIn, false);
  assert.equal(user.state, "logged-out");
  assert.equal(user.refreshToken, null);
  assert.equal(app.currentUser, null);
});

test("an access-token call whose refresh is refused fails once and logs the user out", async () => {
  const { app, user } = await logIn("expired-and-revoked");
  const refreshToken = user.refreshToken;
  await fetch(env.url + SESSION, { method: "DELETE", headers: { Authorization: `Bearer ${refreshToken}` } });
  await sleep(3100);
  env.proxy.clear();
  await rejectsAppError(AppError, user.refreshProfile(), 401, "InvalidSession");
  assert.equal(env.proxy.count("POST", SESSION), 1, "one refresh attempt, no loop");
  assert.ok(env.proxy.count("GET", PROFILE) <= 2);
  assert.equal(user.isLoggedIn, false);
  assert.equal(app.currentUser, null);
});
