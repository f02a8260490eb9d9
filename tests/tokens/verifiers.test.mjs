// Access tokens your own API can trust (issue 20), checked the way real verifiers check them: `jose`
// (`jwtVerify` + `createRemoteJWKSet`, issuer/audience/ES256 pinned) and Auth0's discovery-driven Express
// middleware (`express-oauth2-jwt-bearer`, which reads /.well-known/openid-configuration). Tokens come from
// every login kind — password, anonymous, API key — through unmodified realm-web 2.0.1 and our SDK. Refresh
// tokens must verify with neither.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as Realm from "realm-web";
import * as Appkeys from "appkeys";
import express from "express";
import { auth } from "express-oauth2-jwt-bearer";
import { createRemoteJWKSet, jwtVerify } from "jose";
import { startServer } from "../support/server.mjs";
import { APP_ID, PASSWORD, TestStorage, uniqueEmail } from "../support/util.mjs";

const API_AUDIENCE = "https://orders.example";
let server;
let jwks;
let middlewareUrl;
let middlewareServer;

before(async () => {
  server = await startServer({ args: ["--audience", API_AUDIENCE, "--token-claim", "role=authenticated"] });
  jwks = createRemoteJWKSet(new URL(`${server.url}/.well-known/jwks.json`));
  const api = express();
  api.use(auth({ issuerBaseURL: server.url, audience: API_AUDIENCE, tokenSigningAlg: "ES256" }));
  api.get("/whoami", (req, res) => res.json({ sub: req.auth.payload.sub, provider: req.auth.payload.provider }));
  api.use((err, req, res, next) => res.status(err.status || 500).json({ error: err.message }));
  await new Promise((resolve) => {
    middlewareServer = api.listen(0, "127.0.0.1", resolve);
  });
  middlewareUrl = `http://127.0.0.1:${middlewareServer.address().port}`;
});

after(async () => {
  middlewareServer?.close();
  await server?.stop();
});

const joseVerify = (token, audience = APP_ID) =>
  jwtVerify(token, jwks, { issuer: server.url, audience, algorithms: ["ES256"], typ: "at+jwt" });

const middleware = (token) =>
  fetch(`${middlewareUrl}/whoami`, { headers: { Authorization: `Bearer ${token}` } });

/** Logs in with every provider through `sdk` (realm-web or appkeys): the three users. */
async function everyLogin(sdk, makeApp) {
  const app = makeApp();
  const email = uniqueEmail("verify");
  await app.emailPasswordAuth.registerUser({ email, password: PASSWORD });
  const password = await app.logIn(sdk.Credentials.emailPassword(email, PASSWORD));
  const key = await password.apiKeys.create("verified-service");
  const anonymous = await makeApp().logIn(sdk.Credentials.anonymous());
  const keyed = await makeApp().logIn(sdk.Credentials.apiKey(key.key));
  return { password, anonymous, keyed, keyId: key._id };
}

for (const [name, sdk, makeApp] of [
  ["realm-web 2.0.1", Realm, () => new Realm.App({ id: APP_ID, baseUrl: server.url, storage: new TestStorage() })],
  ["appkeys SDK", Appkeys, () => new Appkeys.App({ id: APP_ID, baseUrl: server.url })],
]) {
  test(`${name}: access tokens of every login verify with jose and the discovery-driven middleware; refresh tokens do not`, async () => {
    const users = await everyLogin(sdk, makeApp);
    for (const [kind, user, provider] of [
      ["password", users.password, "local-userpass"],
      ["anonymous", users.anonymous, "anon-user"],
      ["API key", users.keyed, "api-key"],
    ]) {
      const { payload, protectedHeader } = await joseVerify(user.accessToken);
      assert.equal(protectedHeader.alg, "ES256", kind);
      assert.equal(payload.sub, user.id, kind);
      assert.equal(payload.provider, provider, kind);
      assert.equal(payload.client_id, APP_ID, kind);
      assert.equal(payload.role, "authenticated", kind);
      assert.deepEqual(payload.aud, [APP_ID, API_AUDIENCE], kind);
      if (kind === "API key") assert.equal(payload.api_key_id, users.keyId);
      await joseVerify(user.accessToken, API_AUDIENCE);
      const res = await middleware(user.accessToken);
      assert.equal(res.status, 200, `${kind}: ${await res.clone().text()}`);
      assert.deepEqual(await res.json(), { sub: user.id, provider });
      // The refresh token: neither verifier takes it.
      await assert.rejects(joseVerify(user.refreshToken), `${kind}: jose took a refresh token`);
      assert.equal((await middleware(user.refreshToken)).status, 401, `${kind}: the middleware took a refresh token`);
    }
    // A token for another audience is refused by a verifier that pins its own.
    await assert.rejects(joseVerify(users.password.accessToken, "https://someone-else.example"));
  });
}
