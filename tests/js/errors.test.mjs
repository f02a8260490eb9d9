// Every error case of the server issue, surfacing through the built package as an AppError with the
// right statusCode and errorCode; TypeError (before any request) for bad arguments; 401 on a
// refresh-token request logs the user out, a 403 does not.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { App, Credentials, AppError } from "appkeys";
import { APP_ID, PASSWORD, randomObjectId, uniqueEmail } from "../support/util.mjs";
import { startProxiedServer, rejectsAppError, rejectsTypeError, registerAndLogIn } from "./helpers.mjs";

const sdk = { App, Credentials, AppError };
let env;
before(async () => {
  env = await startProxiedServer();
});
after(async () => {
  await env?.stop();
});

const newApp = () => new App({ id: APP_ID, baseUrl: env.url });
const newUser = async (tag) => {
  const app = newApp();
  return { app, ...(await registerAndLogIn(sdk, app, tag)) };
};
const rejects = (p, status, code, opts) => rejectsAppError(AppError, p, status, code, opts);

test("register twice: 409 AccountNameInUse; wrong password or unknown user: 401 InvalidPassword", async () => {
  const app = newApp();
  const email = uniqueEmail("reg");
  await app.emailPasswordAuth.registerUser({ email, password: PASSWORD });
  await rejects(app.emailPasswordAuth.registerUser({ email, password: PASSWORD }), 409, "AccountNameInUse", {
    method: "POST",
    path: `/app/${APP_ID}/auth/providers/local-userpass/register`,
  });
  await rejects(app.logIn(Credentials.emailPassword(email, "not-the-password")), 401, "InvalidPassword", {
    method: "POST",
    path: `/app/${APP_ID}/auth/providers/local-userpass/login`,
  });
  await rejects(app.logIn(Credentials.emailPassword(uniqueEmail("ghost"), PASSWORD)), 401, "InvalidPassword");
  assert.equal(app.currentUser, null);
});

test("unknown, disabled and deleted keys cannot log in: 401 AuthError", async () => {
  const { user } = await newUser("keylogin");
  await rejects(newApp().logIn(Credentials.apiKey("definitely-not-a-key")), 401, "AuthError", {
    method: "POST",
    path: `/app/${APP_ID}/auth/providers/api-key/login`,
  });
  const k = await user.apiKeys.create("k1");
  assert.equal((await newApp().logIn(Credentials.apiKey(k.key))).id, user.id);
  await user.apiKeys.disable(k._id);
  await rejects(newApp().logIn(Credentials.apiKey(k.key)), 401, "AuthError");
  await user.apiKeys.enable(k._id);
  assert.equal((await newApp().logIn(Credentials.apiKey(k.key))).id, user.id);
  await user.apiKeys.delete(k._id);
  await rejects(newApp().logIn(Credentials.apiKey(k.key)), 401, "AuthError");
});

test("duplicate name 409 APIKeyAlreadyExists; bad name 400 InvalidParameter; empty name 400 MissingParameter", async () => {
  const { user } = await newUser("names");
  await user.apiKeys.create("taken");
  await rejects(user.apiKeys.create("taken"), 409, "APIKeyAlreadyExists", { method: "POST", path: "/auth/api_keys" });
  for (const bad of ["with space", "pct%", "x".repeat(65), "semi;colon"]) {
    await rejects(user.apiKeys.create(bad), 400, "InvalidParameter");
  }
  await rejects(user.apiKeys.create(""), 400, "MissingParameter");
  assert.deepEqual((await user.apiKeys.fetchAll()).map((k) => k.name), ["taken"]);
  assert.equal(user.state, "active");
});

test("the 21st key: 403 APIKeyLimitReached", async () => {
  const { user } = await newUser("limit");
  await Promise.all(Array.from({ length: 20 }, (_, i) => user.apiKeys.create(`k${i}`)));
  assert.equal((await user.apiKeys.fetchAll()).length, 20);
  await rejects(user.apiKeys.create("k20"), 403, "APIKeyLimitReached");
  assert.equal((await user.apiKeys.fetchAll()).length, 20);
  assert.equal(user.isLoggedIn, true);
});

test("another user's key and a missing key: 404 APIKeyNotFound on fetch/enable/disable/delete", async () => {
  const alice = await newUser("alice");
  const bob = await newUser("bob");
  const k = await alice.user.apiKeys.create("alices");
  for (const id of [k._id, randomObjectId()]) {
    await rejects(bob.user.apiKeys.fetch(id), 404, "APIKeyNotFound", { method: "GET", path: `/auth/api_keys/${id}` });
    await rejects(bob.user.apiKeys.enable(id), 404, "APIKeyNotFound", { method: "PUT", path: `/auth/api_keys/${id}/enable` });
    await rejects(bob.user.apiKeys.disable(id), 404, "APIKeyNotFound", { method: "PUT", path: `/auth/api_keys/${id}/disable` });
    await rejects(bob.user.apiKeys.delete(id), 404, "APIKeyNotFound", { method: "DELETE", path: `/auth/api_keys/${id}` });
  }
  assert.deepEqual(await bob.user.apiKeys.fetchAll(), []);
  assert.equal((await alice.user.apiKeys.fetch(k._id)).disabled, false);
  assert.equal(bob.user.isLoggedIn, true);
});

test("anonymous user: 403 APIKeyManagementForbidden, still logged in", async () => {
  const app = newApp();
  const anon = await app.logIn(Credentials.anonymous());
  assert.equal(anon.providerType, "anon-user");
  await rejects(anon.apiKeys.create("nope"), 403, "APIKeyManagementForbidden", { method: "POST", path: "/auth/api_keys" });
  await rejects(anon.apiKeys.fetchAll(), 403, "APIKeyManagementForbidden");
  assert.equal(anon.isLoggedIn, true);
  assert.equal(app.currentUser?.id, anon.id);
});

test("session opened with an API key: 403 APIKeyManagementForbidden and NOT logged out", async () => {
  const { user } = await newUser("keysession");
  const k = await user.apiKeys.create("svc");
  const keyApp = newApp();
  const keyUser = await keyApp.logIn(Credentials.apiKey(k.key));
  assert.equal(keyUser.id, user.id);
  const refreshToken = keyUser.refreshToken;
  await rejects(keyUser.apiKeys.fetchAll(), 403, "APIKeyManagementForbidden");
  await rejects(keyUser.apiKeys.create("more"), 403, "APIKeyManagementForbidden");
  await rejects(keyUser.apiKeys.delete(k._id), 403, "APIKeyManagementForbidden");
  await rejects(keyUser.apiKey.disable(k._id), 403, "APIKeyManagementForbidden");
  assert.equal(keyUser.isLoggedIn, true);
  assert.equal(keyUser.state, "active");
  assert.equal(keyUser.refreshToken, refreshToken);
  assert.equal(keyApp.currentUser?.id, user.id);
  await keyUser.refreshAccessToken(); // the session itself is fine
  assert.equal(keyUser.isLoggedIn, true);
});

test("a 401 on a refresh-token request logs the user out (disabled key ends its sessions)", async () => {
  const { user } = await newUser("revoked");
  const k = await user.apiKeys.create("svc");
  const keyApp = newApp();
  const keyUser = await keyApp.logIn(Credentials.apiKey(k.key));
  await keyUser.refreshAccessToken();
  await user.apiKeys.disable(k._id);
  env.proxy.clear();
  await rejects(keyUser.refreshAccessToken(), 401, "InvalidSession", { method: "POST", path: "/auth/session" });
  assert.equal(env.proxy.count("POST", "/api/client/v2.0/auth/session"), 1, "no retry of a refresh-token request");
  assert.equal(keyUser.isLoggedIn, false);
  assert.equal(keyUser.state, "logged-out");
  assert.equal(keyUser.refreshToken, null);
  assert.equal(keyUser.accessToken, null);
  assert.equal(keyApp.currentUser, null);
  // the owner is unaffected
  assert.equal(user.isLoggedIn, true);
  assert.equal((await user.apiKeys.fetch(k._id)).disabled, true);
});

test("a 401 on an API-key route (refresh token) logs the user out too (deleted key)", async () => {
  const { user } = await newUser("revoked2");
  const k = await user.apiKeys.create("svc");
  const keyApp = newApp();
  const keyUser = await keyApp.logIn(Credentials.apiKey(k.key));
  await user.apiKeys.delete(k._id);
  await rejects(keyUser.apiKeys.fetchAll(), 401, "InvalidSession", { method: "GET", path: "/auth/api_keys" });
  assert.equal(keyUser.isLoggedIn, false);
  assert.equal(keyApp.currentUser, null);
});

test("logOut: key calls fail afterwards, the server revoked the session", async () => {
  const { app, user } = await newUser("logout");
  const k = await user.apiKeys.create("x");
  const refreshToken = user.refreshToken;
  await user.logOut();
  assert.equal(user.isLoggedIn, false);
  assert.equal(app.currentUser, null);
  env.proxy.clear();
  let error = null;
  try {
    await user.apiKeys.fetch(k._id);
  } catch (e) {
    error = e;
  }
  assert.ok(error instanceof Error, "a logged-out user cannot call the key API");
  if (error instanceof AppError) {
    assert.equal(error.statusCode, 401);
    assert.equal(error.errorCode, "InvalidSession");
  }
  const res = await fetch(`${env.url}/api/client/v2.0/auth/api_keys/${k._id}`, {
    headers: { Authorization: `Bearer ${refreshToken}` },
  });
  assert.equal(res.status, 401);
  assert.equal((await res.json()).error_code, "InvalidSession");
  await user.logOut(); // idempotent, does not throw
});

test("TypeError for bad arguments and malformed key ids, before any request", async () => {
  const { user } = await newUser("types");
  env.proxy.clear();
  for (const bad of [undefined, null, 42, {}, ["a"]]) {
    await rejectsTypeError(() => user.apiKeys.create(bad));
  }
  for (const id of [undefined, 42, "", "nothex", "5eb5931548d79bc784adf46", "5eb5931548d79bc784adf46e0", "zzzzzzzzzzzzzzzzzzzzzzzz", "../api_keys"]) {
    await rejectsTypeError(() => user.apiKeys.fetch(id));
    await rejectsTypeError(() => user.apiKeys.enable(id));
    await rejectsTypeError(() => user.apiKeys.disable(id));
    await rejectsTypeError(() => user.apiKey.delete(id));
  }
  // wrong credential types fail when the credentials are made or at the latest in logIn, never on the wire
  const app = newApp();
  await rejectsTypeError(() => app.logIn(Credentials.emailPassword(42, PASSWORD)));
  await rejectsTypeError(() => app.logIn(Credentials.emailPassword("a@example.com", undefined)));
  await rejectsTypeError(() => app.logIn(Credentials.apiKey(42)));
  await rejectsTypeError(() => app.logIn({ provider: "api-key" }));
  await rejectsTypeError(() => user.apiKeys.fetch({ toString: () => "5eb5931548d79bc784adf46e" }));
  assert.deepEqual(env.proxy.log, [], "no request was sent for any of them");
  assert.equal(user.isLoggedIn, true);
});

test("AppError is a real, exported Error class", async () => {
  const app = newApp();
  const e = await rejects(app.logIn(Credentials.apiKey("nope")), 401, "AuthError");
  assert.equal(Object.prototype.toString.call(e), "[object Error]");
  assert.equal(typeof e.link === "string" || e.link === undefined || e.link === null, true);
  assert.ok(String(e).startsWith("AppError: Request failed (POST "));
});
