// User management through the built package (realm-web semantics): allUsers, switchUser, removeUser,
// deleteUser, a custom `storage` that restores users in a new App (API key secrets never stored),
// and an unknown app id surfacing as an AppError.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { App, Credentials, AppError } from "appkeys";
import { APP_ID, PASSWORD, uniqueEmail } from "../support/util.mjs";
import { startProxiedServer, rejectsAppError, registerAndLogIn } from "./helpers.mjs";

const sdk = { App, Credentials, AppError };
let env;
before(async () => {
  env = await startProxiedServer();
});
after(async () => {
  await env?.stop();
});

/** A plain key/value storage with the package's Storage interface (get/set/remove). */
function mapStorage() {
  const map = new Map();
  return {
    map,
    get: (k) => (map.has(k) ? map.get(k) : null),
    set: (k, v) => void map.set(k, v),
    remove: (k) => void map.delete(k),
  };
}

test("two users in one App: allUsers, switchUser, removeUser, deleteUser", async () => {
  const app = new App({ id: APP_ID, baseUrl: env.url });
  const { user: first } = await registerAndLogIn(sdk, app, "first");
  const { user: second, email: secondEmail } = await registerAndLogIn(sdk, app, "second");
  assert.notEqual(first.id, second.id);
  assert.equal(app.currentUser.id, second.id, "the last logged-in user is current");
  assert.deepEqual(Object.keys(app.allUsers), [second.id, first.id], "most recent first");

  app.switchUser(first);
  assert.equal(app.currentUser.id, first.id);
  // the switched-to user's key calls use its own session
  const k = await app.currentUser.apiKeys.create("firsts");
  assert.deepEqual((await first.apiKeys.fetchAll()).map((x) => x._id), [k._id]);
  assert.deepEqual(await second.apiKeys.fetchAll(), []);

  await app.removeUser(first);
  assert.equal(first.state, "removed");
  assert.deepEqual(Object.keys(app.allUsers), [second.id]);
  assert.equal(app.currentUser.id, second.id);
  assert.throws(() => app.switchUser(first), Error, "a removed user cannot be switched to");

  await app.deleteUser(second);
  assert.deepEqual(Object.keys(app.allUsers), []);
  assert.equal(app.currentUser, null);
  await rejectsAppError(AppError, app.logIn(Credentials.emailPassword(secondEmail, PASSWORD)), 401, "InvalidPassword");
});

test("a custom storage restores the user in a new App; API key secrets are never stored", async () => {
  const storage = mapStorage();
  const app = new App({ id: APP_ID, baseUrl: env.url, storage });
  const { user } = await registerAndLogIn(sdk, app, "stored");
  const created = await user.apiKeys.create("persist-check");
  assert.ok(storage.map.size > 0, "the user was persisted");
  for (const [k, v] of storage.map) {
    assert.ok(!String(v).includes(created.key), `the API key secret is stored under ${k}`);
    assert.ok(!String(v).includes(PASSWORD), `the password is stored under ${k}`);
  }

  const again = new App({ id: APP_ID, baseUrl: env.url, storage });
  assert.equal(again.currentUser?.id, user.id, "restored from storage");
  assert.equal(again.currentUser.isLoggedIn, true);
  assert.deepEqual((await again.currentUser.apiKeys.fetchAll()).map((x) => x.name), ["persist-check"]);

  // logging out in one App is visible to an App created afterwards from the same storage
  await again.currentUser.logOut();
  const third = new App({ id: APP_ID, baseUrl: env.url, storage });
  assert.equal(third.currentUser, null);
  // and a different app id does not see these users
  const other = new App({ id: "another-app", baseUrl: env.url, storage });
  assert.deepEqual(Object.keys(other.allUsers), []);
});

test("an unknown app id: AppError 404 AppNotFound", async () => {
  const app = new App({ id: "no-such-app", baseUrl: env.url });
  await rejectsAppError(AppError, app.logIn(Credentials.anonymous()), 404, "AppNotFound");
  await rejectsAppError(
    AppError,
    app.emailPasswordAuth.registerUser({ email: uniqueEmail("x"), password: PASSWORD }),
    404,
    "AppNotFound",
  );
  assert.equal(app.currentUser, null);
});

test("object model: App and User identity, live getters, Credentials objects", async () => {
  const { User } = await import("appkeys");
  const app = new App({ id: APP_ID, baseUrl: env.url });
  assert.ok(app instanceof App, "new App() is an App");
  assert.equal(app.id, APP_ID);
  assert.equal(app.currentUser, null);
  assert.throws(() => User(), TypeError, "users come from logIn");
  assert.throws(() => Credentials(), TypeError, "Credentials has static methods only");
  // Credentials are instances of the Credentials class (as in realm-web) with providerType and payload.
  for (const [c, providerType, payload] of [
    [Credentials.anonymous(), "anon-user", {}],
    [Credentials.apiKey("k"), "api-key", { key: "k" }],
    [Credentials.emailPassword("a@b.c", "pw"), "local-userpass", { username: "a@b.c", password: "pw" }],
  ]) {
    assert.ok(c instanceof Credentials);
    assert.equal(c.providerType, providerType);
    assert.deepEqual(c.payload, payload);
  }
  // plain objects of the same shape are accepted too
  await rejectsAppError(AppError, app.logIn({ providerType: "api-key", payload: { key: "nope" } }), 401, "AuthError");
  assert.throws(() => Credentials.emailPassword("a@b.c"), TypeError);

  const { user } = await registerAndLogIn(sdk, app, "model");
  assert.ok(user instanceof User, "a logged-in user is a User");
  assert.equal(app.currentUser, user);
  assert.equal(app.allUsers[user.id], user);
  assert.equal(user.apiKey, user.apiKeys);
  // Properties are getters over the live state: they cannot be overwritten, and they follow refreshes.
  const token = user.accessToken;
  assert.throws(() => {
    user.accessToken = "stale";
  }, TypeError);
  env.proxy.clear();
  await user.refreshAccessToken();
  const refreshed = env.proxy.log.find((e) => e.method === "POST" && e.path.endsWith("/auth/session"));
  assert.equal(refreshed?.status, 200, "a refresh was made");
  assert.equal(user.accessToken.split(".").length, 3, "the getter shows the refreshed token");
  assert.equal(user.accessToken.split(".")[0], token.split(".")[0]);
  await user.logOut();
  assert.equal(user.state, "logged-out");
  assert.equal(user.isLoggedIn, false);
  assert.equal(user.accessToken, null);
  assert.equal(user.refreshToken, null);
  assert.equal(app.currentUser, null, "app fields follow too");
  assert.equal(app.allUsers[user.id], user, "a logged-out user stays known");
});

test("20 concurrent calls on one user; free() while a call is pending", async () => {
  const app = new App({ id: APP_ID, baseUrl: env.url });
  const { user } = await registerAndLogIn(sdk, app, "concurrent");
  // 20 calls at once on one User object: no "recursive use of an object", every call settles.
  const created = await Promise.all(Array.from({ length: 20 }, (_, i) => user.apiKeys.create(`c${i}`)));
  assert.equal(new Set(created.map((k) => k._id)).size, 20);
  const lists = await Promise.all(Array.from({ length: 20 }, () => user.apiKeys.fetchAll()));
  for (const list of lists) assert.equal(list.length, 20);
  await Promise.all(created.map((k) => user.apiKey.delete(k._id)));
  assert.deepEqual(await user.apiKeys.fetchAll(), []);

  // free() releases the JS object only: the pending call completes normally, and the app hands out a
  // new (working) User object for the same user afterwards.
  const id = user.id;
  const pending = user.apiKeys.create("after-free");
  const pendingProfile = user.refreshProfile();
  user.free();
  assert.equal((await pending).name, "after-free");
  await pendingProfile;
  const again = app.currentUser;
  assert.notEqual(again, user, "a new object for the freed one");
  assert.equal(again, app.currentUser, "and it is stable");
  assert.equal(again.id, id);
  assert.deepEqual((await again.apiKeys.fetchAll()).map((k) => k.name), ["after-free"]);
  assert.throws(() => user.id, Error, "the freed object itself is unusable");
  // [Symbol.dispose]() is free(): the same again
  const refreshing = again.refreshAccessToken();
  again[Symbol.dispose]();
  await refreshing;
  assert.equal(app.currentUser.id, id);
  assert.equal(app.currentUser.isLoggedIn, true);
});

test("create(name, { expiresAt }): a Date or milliseconds round-trips; bad values are TypeErrors", async () => {
  const app = new App({ id: APP_ID, baseUrl: env.url });
  const { user } = await registerAndLogIn(sdk, app, "expiry");
  const at = new Date(Date.now() + 86_400_000);
  const fromDate = await user.apiKeys.create("from-date", { expiresAt: at });
  assert.equal(fromDate.expiresAt, at.getTime());
  const fromMs = await user.apiKeys.create("from-ms", { expiresAt: at.getTime() + 1 });
  assert.equal(fromMs.expiresAt, at.getTime() + 1);
  const never = await user.apiKeys.create("never");
  assert.equal(never.expiresAt, null);
  assert.deepEqual(
    (await user.apiKeys.fetchAll()).map((k) => [k.name, k.expiresAt]),
    [["from-date", at.getTime()], ["from-ms", at.getTime() + 1], ["never", null]],
  );
  for (const bad of ["2030-01-01", 1.5, {}, NaN]) {
    await assert.rejects(user.apiKeys.create("bad", { expiresAt: bad }), TypeError);
  }
  await rejectsAppError(AppError, user.apiKeys.create("past", { expiresAt: new Date(Date.now() - 1000) }), 400, "InvalidParameter");
});
