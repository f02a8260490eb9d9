// realm-web 2.0.1 across a restart of appkeys-server (same port, same database): users, keys,
// key states and sessions survive; the refresh token issued before the restart still works.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as Realm from "realm-web";
import { startServer } from "../support/server.mjs";
import { APP_ID, PASSWORD, TestStorage, raw, rejectsWith, uniqueEmail } from "../support/util.mjs";

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.stop();
});

const newApp = () => new Realm.App({ id: APP_ID, baseUrl: server.url, storage: new TestStorage() });

test("a server restart keeps users, keys and sessions", async () => {
  const app = newApp();
  const email = uniqueEmail("restart");
  await app.emailPasswordAuth.registerUser({ email, password: PASSWORD });
  const user = await app.logIn(Realm.Credentials.emailPassword(email, PASSWORD));
  const enabled = await user.apiKeys.create("stays-enabled");
  const disabled = await user.apiKeys.create("stays-disabled");
  await user.apiKeys.disable(disabled._id);
  const keyApp = newApp();
  const keyUser = await keyApp.logIn(Realm.Credentials.apiKey(enabled.key));
  const anonApp = newApp();
  const anon = await anonApp.logIn(Realm.Credentials.anonymous());
  const refreshToken = user.refreshToken;
  const accessToken = user.accessToken;
  const urlBefore = server.url;

  await server.restart();
  assert.equal(server.url, urlBefore);

  // the same App objects keep working: the refresh token from before the restart is still valid
  const keys = await user.apiKeys.fetchAll();
  assert.deepEqual(
    keys.map((k) => [k._id, k.name, k.disabled]),
    [
      [enabled._id, "stays-enabled", false],
      [disabled._id, "stays-disabled", true],
    ],
  );
  assert.equal(user.refreshToken, refreshToken);
  // the access token from before the restart is still accepted (signing secret kept)
  const profile = await raw(server.url, "GET", "/auth/profile", { token: accessToken });
  assert.equal(profile.status, 200);
  assert.equal(profile.body.user_id, user.id);
  await user.refreshAccessToken();
  assert.equal(user.refreshToken, refreshToken);
  assert.equal(user.state, "active");

  // the key session and the anonymous session survive too
  await keyUser.refreshAccessToken();
  await keyUser.refreshProfile();
  assert.equal(keyUser.state, "active");
  await anon.refreshAccessToken();
  assert.equal(anon.state, "active");

  // credentials: password and keys still log in (or are still refused)
  assert.equal((await newApp().logIn(Realm.Credentials.emailPassword(email, PASSWORD))).id, user.id);
  assert.equal((await newApp().logIn(Realm.Credentials.apiKey(enabled.key))).id, user.id);
  await rejectsWith(newApp().logIn(Realm.Credentials.apiKey(disabled.key)), 401, "AuthError", Realm.MongoDBRealmError);
  // uniqueness rules still hold
  await rejectsWith(user.apiKeys.create("stays-enabled"), 409, "APIKeyAlreadyExists", Realm.MongoDBRealmError);
  await rejectsWith(
    app.emailPasswordAuth.registerUser({ email, password: PASSWORD }),
    409,
    "AccountNameInUse",
    Realm.MongoDBRealmError,
  );

  // a logOut after the restart really revokes the pre-restart session
  await user.logOut();
  const after = await raw(server.url, "GET", "/auth/api_keys", { token: refreshToken });
  assert.equal(after.status, 401);
  assert.equal(after.body.error_code, "InvalidSession");
});
