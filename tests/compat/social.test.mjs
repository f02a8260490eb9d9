// Issue 30: Google, Apple, Facebook and authentication-function sign-in through unmodified realm-web 2.0.1 and
// our SDK, against a real appkeys-server process and fake providers on loopback (RS256 keys made here with
// jose, as Google and Apple sign; a Graph API; a function endpoint that checks the Standard Webhooks
// signature). Runs on SQLite and PostgreSQL (tests/compat is run on both).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { createHmac, randomUUID } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as Realm from "realm-web";
import * as Appkeys from "appkeys";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { startServer } from "../support/server.mjs";
import { APP_ID, TestStorage, rejectsWith } from "../support/util.mjs";

const WEB_CLIENT = "web.apps.googleusercontent.com";
const IOS_CLIENT = "ios.apps.googleusercontent.com";
const BUNDLE = "com.example.notes";
const FB_APP = "777";
const SECRETS = { google: "google-client-secret", facebook: "facebook-app-secret", fn: "function-secret-of-at-least-32-bytes!!" };

let providers;
let server;
const keys = {};

async function rsaKey(name) {
  const { publicKey, privateKey } = await generateKeyPair("RS256");
  const jwk = { ...(await exportJWK(publicKey)), kid: `${name}-${randomUUID()}`, alg: "RS256", use: "sig" };
  keys[name] = { privateKey, jwk };
}

const sign = (name, claims) =>
  new SignJWT(claims)
    .setProtectedHeader({ alg: "RS256", kid: keys[name].jwk.kid })
    .setIssuedAt()
    .setExpirationTime("10m")
    .sign(keys[name].privateKey);

const googleToken = (sub, aud = WEB_CLIENT) =>
  sign("google", { iss: "https://accounts.google.com", sub, aud, name: "Gus Google", email: `${sub}@gmail.example`, picture: "https://example.com/g.png" });
const appleToken = (sub, aud = BUNDLE) => sign("apple", { iss: "https://appleid.apple.com", sub, aud, email: `${sub}@privaterelay.example` });

async function startProviders() {
  await rsaKey("google");
  await rsaKey("apple");
  const codeToken = await googleToken("g-code-user");
  const http = createServer((req, res) => {
    const url = new URL(req.url, "http://x");
    const send = (status, body) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      if (url.pathname === "/google/certs") return send(200, { keys: [keys.google.jwk] });
      if (url.pathname === "/apple/keys") return send(200, { keys: [keys.apple.jwk] });
      if (url.pathname === "/google/token") {
        const form = new URLSearchParams(body);
        const ok = form.get("client_id") === WEB_CLIENT && form.get("client_secret") === SECRETS.google && form.get("code") === "4/fresh";
        return ok ? send(200, { id_token: codeToken }) : send(400, { error: "invalid_grant" });
      }
      if (url.pathname === "/graph/debug_token") {
        const valid = url.searchParams.get("access_token") === `${FB_APP}|${SECRETS.facebook}` && url.searchParams.get("input_token") === "EAAB-good";
        return send(200, { data: valid ? { app_id: FB_APP, is_valid: true, user_id: "555" } : { is_valid: false } });
      }
      if (url.pathname === "/graph/me") {
        return url.searchParams.get("access_token") === "EAAB-good"
          ? send(200, { id: "555", name: "Fern Book", email: "fern@example.com" })
          : send(400, {});
      }
      if (url.pathname === "/function") {
        // Verified as a Standard Webhooks receiver does: HMAC-SHA256 of "id.timestamp.body".
        const [id, ts, sig] = ["webhook-id", "webhook-timestamp", "webhook-signature"].map((h) => req.headers[h]);
        const expected = "v1," + createHmac("sha256", SECRETS.fn).update(`${id}.${ts}.${body}`).digest("base64");
        if (sig !== expected) return send(401, { error: "bad signature" });
        const payload = JSON.parse(body);
        return payload.username === "fiona" ? send(200, { id: "fn-fiona", name: "Fiona Function" }) : send(401, { error: "no such user" });
      }
      send(404, {});
    });
  });
  await new Promise((r) => http.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${http.address().port}`, close: () => new Promise((r) => http.close(r)) };
}

before(async () => {
  providers = await startProviders();
  const dir = mkdtempSync(join(tmpdir(), "appkeys-social-"));
  const file = (name, secret) => {
    const path = join(dir, name);
    writeFileSync(path, `${secret}\n`, { mode: 0o600 });
    return path;
  };
  const u = providers.url;
  server = await startServer({
    args: [
      "--google-client-id", WEB_CLIENT, "--google-client-id", IOS_CLIENT,
      "--google-client-secret-file", file("google", SECRETS.google),
      "--google-jwks-url", `${u}/google/certs`, "--google-token-url", `${u}/google/token`,
      "--apple-client-id", BUNDLE, "--apple-jwks-url", `${u}/apple/keys`,
      "--facebook-app-id", FB_APP, "--facebook-app-secret-file", file("facebook", SECRETS.facebook),
      "--facebook-graph-url", `${u}/graph`,
      "--function-url", `${u}/function`, "--function-secret-file", file("function", SECRETS.fn),
    ],
  });
});

after(async () => {
  await server?.stop();
  await providers?.close();
});

const sdks = [
  ["realm-web 2.0.1", Realm, () => new Realm.App({ id: APP_ID, baseUrl: server.url, storage: new TestStorage() }), Realm.MongoDBRealmError],
  ["appkeys SDK", Appkeys, () => new Appkeys.App({ id: APP_ID, baseUrl: server.url }), Appkeys.AppError],
];

for (const [name, sdk, newApp, ErrorClass] of sdks) {
  test(`${name}: Google ID tokens of two clients and an authorization code log in, with profile and API keys`, async () => {
    const sub = `g-${name.length}-${randomUUID()}`;
    const user = await newApp().logIn(sdk.Credentials.google({ idToken: await googleToken(sub, IOS_CLIENT) }));
    assert.equal(user.providerType, "oauth2-google");
    assert.deepEqual(user.identities.map((i) => [i.id, i.providerType]), [[sub, "oauth2-google"]]);
    assert.equal(user.profile.name, "Gus Google");
    assert.equal(user.profile.email, `${sub}@gmail.example`);
    const again = await newApp().logIn(sdk.Credentials.google({ idToken: await googleToken(sub, WEB_CLIENT) }));
    assert.equal(again.id, user.id);
    const byCode = await newApp().logIn(sdk.Credentials.google({ authCode: "4/fresh" }));
    assert.deepEqual(byCode.identities.map((i) => i.id), ["g-code-user"]);
    const key = await user.apiKeys.create("google-user-key");
    assert.equal((await newApp().logIn(sdk.Credentials.apiKey(key.key))).id, user.id);
    const e = await rejectsWith(newApp().logIn(sdk.Credentials.google({ idToken: await googleToken(sub, "another-client") })), 401, "AuthError", ErrorClass);
    assert.match(e.message, /audience/);
    await rejectsWith(newApp().logIn(sdk.Credentials.google({ authCode: "4/replayed" })), 401, "AuthError", ErrorClass);
  });

  test(`${name}: Apple, Facebook and the authentication function log in their users`, async () => {
    const appleSub = `001.${randomUUID()}`;
    const apple = await newApp().logIn(sdk.Credentials.apple(await appleToken(appleSub)));
    assert.equal(apple.providerType, "oauth2-apple");
    assert.equal((await newApp().logIn(sdk.Credentials.apple(await appleToken(appleSub)))).id, apple.id);
    await rejectsWith(newApp().logIn(sdk.Credentials.apple(await appleToken(appleSub, "com.other"))), 401, "AuthError", ErrorClass);

    const fb = await newApp().logIn(sdk.Credentials.facebook("EAAB-good"));
    assert.equal(fb.providerType, "oauth2-facebook");
    assert.equal(fb.profile.name, "Fern Book");
    assert.deepEqual(fb.identities.map((i) => i.id), ["555"]);
    await rejectsWith(newApp().logIn(sdk.Credentials.facebook("EAAB-stolen")), 401, "AuthError", ErrorClass);

    const fn = await newApp().logIn(sdk.Credentials.function({ username: "fiona" }));
    assert.equal(fn.providerType, "custom-function");
    assert.equal(fn.profile.name, "Fiona Function");
    assert.equal((await newApp().logIn(sdk.Credentials.function({ username: "fiona" }))).id, fn.id);
    const e = await rejectsWith(newApp().logIn(sdk.Credentials.function({ username: "mallory" })), 401, "AuthError", ErrorClass);
    assert.match(e.message, /no such user/);
  });

  test(`${name}: the credentials' shapes and errors are realm-web's`, () => {
    assert.deepEqual({ ...sdk.Credentials.google({ idToken: "eyJ.x.y" }).payload }, { id_token: "eyJ.x.y" });
    assert.deepEqual({ ...sdk.Credentials.google({ authCode: "4/x" }).payload }, { authCode: "4/x" });
    assert.deepEqual({ ...sdk.Credentials.facebook("EAAB") .payload }, { accessToken: "EAAB" });
    assert.deepEqual({ ...sdk.Credentials.facebook("https://app.example/cb").payload }, { redirectUrl: "https://app.example/cb" });
    assert.deepEqual({ ...sdk.Credentials.apple("eyJ.a.b").payload }, { id_token: "eyJ.a.b" });
    assert.deepEqual({ ...sdk.Credentials.function({ a: 1, b: [2] }).payload }, { a: 1, b: [2] });
    assert.equal(sdk.Credentials.function({}).providerType, "custom-function");
    assert.throws(() => sdk.Credentials.google("eyJ.x.y"), { message: /has been deprecated/ });
    assert.throws(() => sdk.Credentials.google({ idToken: "a", authCode: "b" }), { message: /Expected only one property in payload/ });
    assert.throws(() => sdk.Credentials.google({ token: "a" }), { message: /Unexpected payload/ });
  });
}
