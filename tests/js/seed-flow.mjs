// The seed flow against the built package, with the seed's JavaScript snippets (tests/js/snippets.cjs)
// run verbatim inside it. Used by seed.test.cjs (require) and seed.test.mjs (import) as subtests of one test.
import assert from "node:assert/strict";
import { OBJECT_ID, PASSWORD, APP_ID, uniqueEmail } from "../support/util.mjs";
import { rejectsAppError } from "./helpers.mjs";

const SEED_ID = "5eb5931548d79bc784adf46e";

/**
 * @param t       the node:test context (subtests are added to it)
 * @param sdk     the package as loaded by the caller: { App, Credentials, AppError }
 * @param snippets tests/js/snippets.cjs (or the transpiled TypeScript snippets)
 * @param env     { url, proxy } from startProxiedServer()
 */
export async function seedFlow(t, sdk, snippets, env) {
  const { App, Credentials, AppError } = sdk;
  const { proxy } = env;
  const app = new App({ id: APP_ID, baseUrl: env.url });
  const keyApp = () => new App({ id: APP_ID, baseUrl: env.url });
  const email = uniqueEmail("seed");
  let user;
  let first;

  await t.test("register and log in (email/password)", async () => {
    assert.equal(app.id, APP_ID);
    assert.equal(app.currentUser, null);
    const registered = await app.emailPasswordAuth.registerUser({ email, password: PASSWORD });
    assert.equal(registered, undefined);
    user = await app.logIn(Credentials.emailPassword(email, PASSWORD));
    assert.match(user.id, OBJECT_ID);
    assert.equal(app.currentUser.id, user.id);
    assert.equal(user.isLoggedIn, true);
    assert.equal(user.state, "active");
    assert.equal(user.providerType, "local-userpass");
    assert.equal(typeof user.accessToken, "string");
    assert.equal(typeof user.refreshToken, "string");
    assert.equal(user.profile.email, email);
    assert.equal(user.apiKey, user.apiKeys, "user.apiKey is the same object as user.apiKeys");
  });

  await t.test("seed: Create a User API Key", async () => {
    proxy.clear();
    first = await snippets.createKey(app);
    assert.match(first._id, OBJECT_ID);
    assert.equal(first.name, "apiKeyName");
    assert.equal(first.disabled, false);
    assert.equal(typeof first.key, "string");
    assert.ok(first.key.length >= 32);
    assert.deepEqual(
      proxy.log.map((e) => `${e.method} ${e.path} ${e.status}`),
      ["POST /api/client/v2.0/auth/api_keys 201"],
    );
    // the key logs in as its creator
    const keyUser = await keyApp().logIn(Credentials.apiKey(first.key));
    assert.equal(keyUser.id, user.id);
    assert.equal(keyUser.providerType, "api-key");
  });

  await t.test("seed: Look up a User API Key (the seed's example id does not exist here: 404)", async () => {
    proxy.clear();
    await rejectsAppError(AppError, snippets.lookUpKeys(app), 404, "APIKeyNotFound", {
      method: "GET",
      path: `/auth/api_keys/${SEED_ID}`,
    });
    assert.deepEqual(
      proxy.log.map((e) => `${e.method} ${e.path} ${e.status}`),
      ["GET /api/client/v2.0/auth/api_keys 200", `GET /api/client/v2.0/auth/api_keys/${SEED_ID} 404`],
    );
    // the same calls with a real id
    const keys = await user.apiKeys.fetchAll();
    assert.deepEqual(
      keys.map((k) => [k._id, k.name, k.disabled, "key" in k]),
      [[first._id, "apiKeyName", false, false]],
    );
    const key = await user.apiKeys.fetch(first._id);
    assert.equal(key._id, first._id);
    assert.equal(key.name, "apiKeyName");
    assert.equal(key.disabled, false);
    assert.equal("key" in key, false);
    assert.equal(user.state, "active", "a 404 does not log the user out");
  });

  await t.test("seed: Enable or Disable an API Key", async () => {
    await user.apiKeys.disable(first._id); // so that the seed's "enable" really changes something
    proxy.clear();
    const keyId = await snippets.enableThenDisable(app);
    assert.equal(keyId, first._id);
    assert.deepEqual(
      proxy.log.map((e) => `${e.method} ${e.path} ${e.status}`),
      [
        "GET /api/client/v2.0/auth/api_keys 200",
        `PUT /api/client/v2.0/auth/api_keys/${keyId}/enable 204`,
        `PUT /api/client/v2.0/auth/api_keys/${keyId}/disable 204`,
      ],
    );
    assert.equal((await user.apiKeys.fetch(keyId)).disabled, true);
    await rejectsAppError(AppError, keyApp().logIn(Credentials.apiKey(first.key)), 401, "AuthError", {
      method: "POST",
      path: `/app/${APP_ID}/auth/providers/api-key/login`,
    });
    assert.equal(await user.apiKeys.enable(keyId), undefined);
    assert.equal((await keyApp().logIn(Credentials.apiKey(first.key))).id, user.id);
  });

  await t.test("seed: Delete an API Key", async () => {
    const second = await user.apiKeys.create("second");
    proxy.clear();
    const keyId = await snippets.deleteFirstKey(app);
    assert.equal(keyId, first._id, "the seed deletes the first key listed (creation order)");
    assert.deepEqual(
      proxy.log.map((e) => `${e.method} ${e.path} ${e.status}`),
      ["GET /api/client/v2.0/auth/api_keys 200", `DELETE /api/client/v2.0/auth/api_keys/${keyId} 204`],
    );
    assert.deepEqual((await user.apiKeys.fetchAll()).map((k) => k._id), [second._id]);
    await rejectsAppError(AppError, user.apiKeys.fetch(keyId), 404, "APIKeyNotFound");
    await rejectsAppError(AppError, keyApp().logIn(Credentials.apiKey(first.key)), 401, "AuthError");
    assert.equal((await keyApp().logIn(Credentials.apiKey(second.key))).id, user.id);
  });

  await t.test("log out", async () => {
    const refreshToken = user.refreshToken;
    await user.logOut();
    assert.equal(user.isLoggedIn, false);
    assert.equal(user.state, "logged-out");
    assert.equal(user.refreshToken, null);
    assert.equal(user.accessToken, null);
    assert.equal(app.currentUser, null);
    // the session is revoked on the server
    const res = await fetch(`${env.url}/api/client/v2.0/auth/api_keys`, {
      headers: { Authorization: `Bearer ${refreshToken}` },
    });
    assert.equal(res.status, 401);
    assert.equal((await res.json()).error_code, "InvalidSession");
  });
}
