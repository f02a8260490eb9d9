// realm-web 2.0.1 (unmodified, from node_modules) against a real appkeys-server process:
// the seed flow (register, log in, create, fetch, fetchAll, disable, enable, delete) and every
// error case of the user API key rules. One server for the whole file.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as Realm from "realm-web";
import { startServer } from "../support/server.mjs";
import {
  APP_ID,
  OBJECT_ID,
  PASSWORD,
  TestStorage,
  randomObjectId,
  raw,
  rejectsWith,
  uniqueEmail,
} from "../support/util.mjs";

let server;

/** A fresh realm-web App with its own storage (so App instances do not share users). */
function newApp() {
  return new Realm.App({ id: APP_ID, baseUrl: server.url, storage: new TestStorage() });
}

/** Registers a fresh email/password user and logs it in on a fresh App. */
async function newUser(tag) {
  const app = newApp();
  const email = uniqueEmail(tag);
  await app.emailPasswordAuth.registerUser({ email, password: PASSWORD });
  const user = await app.logIn(Realm.Credentials.emailPassword(email, PASSWORD));
  return { app, user, email };
}

/** Logs in with an API key on a separate App instance. */
function keyLogIn(key) {
  return newApp().logIn(Realm.Credentials.apiKey(key));
}

const realmError = (status, code) => (p) => rejectsWith(p, status, code, Realm.MongoDBRealmError);

before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.stop();
});

test("location answers with the server's own origin", async () => {
  const res = await raw(server.url, "GET", `/app/${APP_ID}/location`);
  assert.equal(res.status, 200);
  assert.equal(res.body.hostname, server.url);
  assert.equal(typeof res.body.ws_hostname, "string");
  assert.equal(typeof res.body.location, "string");
  assert.equal(typeof res.body.deployment_model, "string");
});

test("seed flow: register, log in, create, fetch, fetchAll, disable, enable, delete", async () => {
  const { app, user, email } = await newUser("flow");
  assert.equal(app.currentUser, user);
  assert.match(user.id, OBJECT_ID);
  assert.equal(user.state, "active");
  assert.equal(user.providerType, "local-userpass");
  assert.equal(user.profile.email, email);

  assert.deepEqual(await user.apiKeys.fetchAll(), []);

  const created = await user.apiKeys.create("apiKeyName");
  assert.match(created._id, OBJECT_ID);
  assert.equal(typeof created.key, "string");
  assert.ok(created.key.length >= 32, "the secret is long");
  assert.equal(created.name, "apiKeyName");
  assert.equal(created.disabled, false);

  const fetched = await user.apiKeys.fetch(created._id);
  assert.equal(fetched._id, created._id);
  assert.equal(fetched.name, "apiKeyName");
  assert.equal(fetched.disabled, false);
  assert.equal("key" in fetched, false, "fetch never returns the secret");

  const second = await user.apiKeys.create("second-key_2");
  const all = await user.apiKeys.fetchAll();
  assert.deepEqual(
    all.map((k) => [k._id, k.name, k.disabled]),
    [
      [created._id, "apiKeyName", false],
      [second._id, "second-key_2", false],
    ],
    "fetchAll lists the keys in creation order",
  );
  assert.ok(all.every((k) => !("key" in k)), "fetchAll never returns secrets");

  // The key logs in as the user who created it.
  const keyUser = await keyLogIn(created.key);
  assert.equal(keyUser.id, user.id);
  assert.equal(keyUser.providerType, "api-key");

  // disable -> refused; disabling twice is a no-op
  await user.apiKeys.disable(created._id);
  await user.apiKeys.disable(created._id);
  assert.equal((await user.apiKeys.fetch(created._id)).disabled, true);
  await realmError(401, "AuthError")(keyLogIn(created.key));
  // the other key is unaffected
  assert.equal((await keyLogIn(second.key)).id, user.id);

  // enable -> same user again; enabling twice is a no-op
  await user.apiKeys.enable(created._id);
  await user.apiKeys.enable(created._id);
  assert.equal((await user.apiKeys.fetch(created._id)).disabled, false);
  assert.equal((await keyLogIn(created.key)).id, user.id);

  // delete -> refused, gone from fetch and fetchAll
  await user.apiKeys.delete(created._id);
  await realmError(401, "AuthError")(keyLogIn(created.key));
  await realmError(404, "APIKeyNotFound")(user.apiKeys.fetch(created._id));
  await realmError(404, "APIKeyNotFound")(user.apiKeys.delete(created._id));
  assert.deepEqual(
    (await user.apiKeys.fetchAll()).map((k) => k._id),
    [second._id],
  );
  // the owner's own session is still fine after all of that
  assert.equal(user.state, "active");
});

test("a malformed or unknown key secret cannot log in", async () => {
  await realmError(401, "AuthError")(keyLogIn("not-a-real-key"));
  const { user } = await newUser("tamper");
  const { key } = await user.apiKeys.create("k");
  const last = key.at(-1);
  const tampered = key.slice(0, -1) + (last === "A" ? "B" : "A");
  await realmError(401, "AuthError")(keyLogIn(tampered));
  assert.equal((await keyLogIn(key)).id, user.id);
});

test("duplicate key name is 409 APIKeyAlreadyExists (per user only)", async () => {
  const { user } = await newUser("dup");
  await user.apiKeys.create("same-name");
  const err = await realmError(409, "APIKeyAlreadyExists")(user.apiKeys.create("same-name"));
  assert.match(err.message, /^Request failed \(POST http:\/\/.*\/api\/client\/v2\.0\/auth\/api_keys\): .+ \(status 409/);
  assert.equal((await user.apiKeys.fetchAll()).length, 1);
  // another user may use the same name
  const other = await newUser("dup2");
  assert.equal((await other.user.apiKeys.create("same-name")).name, "same-name");
});

test("bad key names are 400 InvalidParameter, an empty name is 400 MissingParameter", async () => {
  const { user } = await newUser("names");
  for (const name of ["has space", "per%cent", "dot.ted", "slash/y", "ünïcode", "x".repeat(65)]) {
    await realmError(400, "InvalidParameter")(user.apiKeys.create(name));
  }
  await realmError(400, "MissingParameter")(user.apiKeys.create(""));
  // the longest allowed name and every allowed character class
  assert.equal((await user.apiKeys.create("x".repeat(64))).name, "x".repeat(64));
  assert.equal((await user.apiKeys.create("Az09_-")).name, "Az09_-");
  assert.equal((await user.apiKeys.fetchAll()).length, 2);
  assert.equal(user.state, "active");
});

test("the 21st key is 403 APIKeyLimitReached", async () => {
  const { user } = await newUser("limit");
  const ids = [];
  for (let i = 1; i <= 20; i++) ids.push((await user.apiKeys.create(`key-${i}`))._id);
  await realmError(403, "APIKeyLimitReached")(user.apiKeys.create("key-21"));
  assert.equal((await user.apiKeys.fetchAll()).length, 20);
  assert.equal(user.state, "active", "a 403 does not log the user out");
  // deleting one frees a slot
  await user.apiKeys.delete(ids[0]);
  assert.equal((await user.apiKeys.create("key-21")).name, "key-21");
  await realmError(403, "APIKeyLimitReached")(user.apiKeys.create("key-22"));
});

test("another user's key is 404 APIKeyNotFound, exactly like a missing one", async () => {
  const alice = await newUser("alice");
  const bob = await newUser("bob");
  const aliceKey = await alice.user.apiKeys.create("alices");
  const missing = randomObjectId();
  for (const id of [aliceKey._id, missing]) {
    const e1 = await realmError(404, "APIKeyNotFound")(bob.user.apiKeys.fetch(id));
    await realmError(404, "APIKeyNotFound")(bob.user.apiKeys.enable(id));
    await realmError(404, "APIKeyNotFound")(bob.user.apiKeys.disable(id));
    await realmError(404, "APIKeyNotFound")(bob.user.apiKeys.delete(id));
    assert.equal(e1.method, "GET");
    assert.ok(e1.url.endsWith(`/auth/api_keys/${id}`), e1.url);
  }
  assert.deepEqual(await bob.user.apiKeys.fetchAll(), []);
  // Bob's attempts changed nothing: Alice's key is still there, enabled, and logs in as Alice.
  assert.equal((await alice.user.apiKeys.fetch(aliceKey._id)).disabled, false);
  assert.equal((await keyLogIn(aliceKey.key)).id, alice.user.id);
  assert.equal(bob.user.state, "active");
});

test("a malformed key id is a clear 4xx, never a 5xx", async () => {
  const { user } = await newUser("badid");
  for (const id of ["nothex", "5eb5931548d79bc784adf46", "zzzzzzzzzzzzzzzzzzzzzzzz"]) {
    let error = null;
    try {
      await user.apiKeys.fetch(id);
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof Realm.MongoDBRealmError, `fetch(${id}) must fail`);
    assert.ok([400, 404].includes(error.statusCode), `fetch(${id}): ${error.message}`);
    assert.equal(typeof error.errorCode, "string");
  }
  assert.equal(user.state, "active");
});

test("an anonymous user cannot manage API keys (403, stays logged in)", async () => {
  const app = newApp();
  const anon = await app.logIn(Realm.Credentials.anonymous());
  assert.match(anon.id, OBJECT_ID);
  assert.equal(anon.providerType, "anon-user");
  await realmError(403, "APIKeyManagementForbidden")(anon.apiKeys.create("anon-key"));
  await realmError(403, "APIKeyManagementForbidden")(anon.apiKeys.fetchAll());
  await realmError(403, "APIKeyManagementForbidden")(anon.apiKeys.fetch(randomObjectId()));
  assert.equal(anon.state, "active");
  assert.equal(app.currentUser, anon);
  await anon.refreshProfile(); // the session itself still works
});

test("a session opened with an API key cannot manage keys (403) and is not logged out", async () => {
  const { user } = await newUser("keysession");
  const { _id, key } = await user.apiKeys.create("service");
  const keyApp = newApp();
  const keyUser = await keyApp.logIn(Realm.Credentials.apiKey(key));
  assert.equal(keyUser.id, user.id);
  const refreshToken = keyUser.refreshToken;

  await realmError(403, "APIKeyManagementForbidden")(keyUser.apiKeys.fetchAll());
  await realmError(403, "APIKeyManagementForbidden")(keyUser.apiKeys.create("another"));
  await realmError(403, "APIKeyManagementForbidden")(keyUser.apiKeys.fetch(_id));
  await realmError(403, "APIKeyManagementForbidden")(keyUser.apiKeys.disable(_id));
  await realmError(403, "APIKeyManagementForbidden")(keyUser.apiKeys.delete(_id));

  // realm-web logs a user out on a 401 with the refresh token; a 403 must leave it logged in
  assert.equal(keyUser.state, "active");
  assert.equal(keyUser.refreshToken, refreshToken);
  assert.equal(keyApp.currentUser, keyUser);
  await keyUser.refreshProfile();
  await keyUser.refreshAccessToken();
  // and the key is untouched
  assert.equal((await user.apiKeys.fetch(_id)).disabled, false);
});

test("disabling or deleting a key ends the sessions opened with it", async () => {
  const { user } = await newUser("revoke");
  const a = await user.apiKeys.create("a");
  const b = await user.apiKeys.create("b");
  const sessA = await keyLogIn(a.key);
  const sessB = await keyLogIn(b.key);
  await sessA.refreshAccessToken();

  // an access-token request of the disabled key's session: realm-web tries to refresh, which is refused too
  await user.apiKeys.disable(a._id);
  await realmError(401, "InvalidSession")(sessA.refreshProfile());
  assert.equal(sessA.state, "logged-out", "realm-web logs out on a 401 to a refresh-token request");

  const oldAccessB = sessB.accessToken;
  await user.apiKeys.delete(b._id);
  await realmError(401, "InvalidSession")(sessB.refreshAccessToken());
  assert.equal(sessB.state, "logged-out");
  // the access token issued before the delete is refused as well
  const res = await raw(server.url, "GET", "/auth/profile", { token: oldAccessB });
  assert.equal(res.status, 401);
  assert.equal(res.body.error_code, "InvalidSession");

  // the owner's email/password session is untouched; re-enabling gives a new working session
  assert.equal(user.state, "active");
  await user.apiKeys.enable(a._id);
  const again = await keyLogIn(a.key);
  await again.refreshAccessToken();
  assert.equal(again.id, user.id);
});

test("logOut ends the session: key calls with its refresh token fail with 401 InvalidSession", async () => {
  const { app, user, email } = await newUser("logout");
  const { _id } = await user.apiKeys.create("before-logout");
  const refreshToken = user.refreshToken;
  const accessToken = user.accessToken;
  await user.logOut();
  assert.equal(user.state, "logged-out");
  assert.equal(app.currentUser, null);

  // realm-web itself: the logged-out user has no token any more
  await realmError(401, "InvalidSession")(user.apiKeys.fetchAll());
  // the server: the old refresh token is revoked for every key route and for refresh
  for (const [method, path] of [
    ["GET", "/auth/api_keys"],
    ["GET", `/auth/api_keys/${_id}`],
    ["PUT", `/auth/api_keys/${_id}/disable`],
    ["DELETE", `/auth/api_keys/${_id}`],
    ["POST", "/auth/session"],
  ]) {
    const res = await raw(server.url, method, path, { token: refreshToken });
    assert.equal(res.status, 401, `${method} ${path}`);
    assert.equal(res.body.error_code, "InvalidSession", `${method} ${path}`);
    assert.equal(res.headers.get("content-type"), "application/json");
  }
  // a second logOut (DELETE auth/session with a revoked token) does not throw
  const again = await raw(server.url, "DELETE", "/auth/session", { token: refreshToken });
  assert.ok(again.status >= 200 && again.status < 300, `DELETE auth/session again: ${again.status}`);
  // an access token is not a refresh token
  const wrongType = await raw(server.url, "GET", "/auth/api_keys", { token: accessToken });
  assert.equal(wrongType.status, 401);
  assert.equal(wrongType.body.error_code, "InvalidSession");

  // logging in again works and the key is still there
  const back = await app.logIn(Realm.Credentials.emailPassword(email, PASSWORD));
  assert.equal(back.id, user.id);
  assert.deepEqual((await back.apiKeys.fetchAll()).map((k) => k._id), [_id]);
});

test("register and log-in errors: 409 AccountNameInUse, 401 InvalidPassword", async () => {
  const app = newApp();
  const email = uniqueEmail("reg");
  await app.emailPasswordAuth.registerUser({ email, password: PASSWORD });
  await realmError(409, "AccountNameInUse")(app.emailPasswordAuth.registerUser({ email, password: PASSWORD }));
  await realmError(401, "InvalidPassword")(app.logIn(Realm.Credentials.emailPassword(email, "wrong-password")));
  await realmError(401, "InvalidPassword")(app.logIn(Realm.Credentials.emailPassword(uniqueEmail("nobody"), PASSWORD)));
  assert.equal(app.currentUser, null);
  const user = await app.logIn(Realm.Credentials.emailPassword(email, PASSWORD));
  // registering while logged in (realm-web sends the current access token) still works
  await app.emailPasswordAuth.registerUser({ email: uniqueEmail("reg2"), password: PASSWORD });
  assert.equal(user.state, "active");
});

test("deleting a user removes its keys and sessions", async () => {
  const { app, user, email } = await newUser("deleted");
  const { key } = await user.apiKeys.create("doomed");
  const keySession = await keyLogIn(key);
  const refreshToken = user.refreshToken;
  await app.deleteUser(user);
  assert.equal(user.state, "removed");
  await realmError(401, "AuthError")(keyLogIn(key));
  await realmError(401, "InvalidPassword")(newApp().logIn(Realm.Credentials.emailPassword(email, PASSWORD)));
  await realmError(401, "InvalidSession")(keySession.refreshAccessToken());
  const res = await raw(server.url, "GET", "/auth/api_keys", { token: refreshToken });
  assert.equal(res.status, 401);
});

test("an unknown app id is 404 AppNotFound (location and login)", async () => {
  const app = new Realm.App({ id: "no-such-app", baseUrl: server.url, storage: new TestStorage() });
  await realmError(404, "AppNotFound")(app.logIn(Realm.Credentials.anonymous()));
  const skip = new Realm.App({ id: "no-such-app", baseUrl: server.url, skipLocationRequest: true, storage: new TestStorage() });
  await realmError(404, "AppNotFound")(skip.logIn(Realm.Credentials.anonymous()));
  assert.equal(app.currentUser, null);
});
