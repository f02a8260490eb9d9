// Issue 24: custom JWT login (`Credentials.jwt`) and account linking (`user.linkCredentials`) through
// unmodified realm-web 2.0.1 and our SDK, against a real appkeys-server process and the example identity
// provider (examples-js/identity-provider: ES256 and RS256 keys made at start, its JWKS over loopback).
// Runs on SQLite and PostgreSQL (tests/compat is run on both).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as Realm from "realm-web";
import * as Appkeys from "appkeys";
import { startServer } from "../support/server.mjs";
import { APP_ID, PASSWORD, TestStorage, rejectsWith, uniqueEmail } from "../support/util.mjs";
import { startIdentityProvider } from "../../examples-js/identity-provider/idp.mjs";
import { startSmtpSink, linkOf } from "../support/smtp-sink.mjs";

const AUDIENCE = "https://notes.example";
let idp;
let server;
let sink;

before(async () => {
  idp = await startIdentityProvider({ audience: AUDIENCE, algorithms: ["ES256", "RS256"] });
  // Confirmation links: linking an email/password account needs an address proven by one (issue 29).
  sink = await startSmtpSink();
  server = await startServer({
    args: [
      "--smtp-url", sink.url,
      "--confirm-url", "http://notes.example.test/confirm",
      "--reset-url", "http://notes.example.test/reset",
      "--custom-jwt-jwks-url", idp.jwksUrl,
      "--custom-jwt-audience", AUDIENCE,
      "--custom-jwt-issuer", idp.issuer,
      "--custom-jwt-metadata", "name=name",
      "--custom-jwt-metadata", "plan!=billing.plan",
    ],
  });
});

after(async () => {
  await server?.stop();
  await idp?.close();
  await sink?.close();
});

/** Opens the confirmation link emailed to `email` (asked for with realm's `resendConfirmationEmail`). */
async function proveAddress(app, email) {
  await app.emailPasswordAuth.resendConfirmationEmail({ email });
  const mail = await sink.waitFor((m) => m.to.includes(email) && /confirm/i.test(m.subject));
  const { token, tokenId } = linkOf(mail);
  await app.emailPasswordAuth.confirmUser({ token, tokenId });
}

let n = 0;
const subject = (tag) => `idp|${tag}-${process.pid}-${++n}`;
const token = (sub, { alg = "ES256", plan = "pro", ...claims } = {}) =>
  idp.issue(sub, { name: `Name of ${sub}`, billing: { plan }, ...claims }, { alg });

const sdks = [
  ["realm-web 2.0.1", Realm, () => new Realm.App({ id: APP_ID, baseUrl: server.url, storage: new TestStorage() }), Realm.MongoDBRealmError],
  ["appkeys SDK", Appkeys, () => new Appkeys.App({ id: APP_ID, baseUrl: server.url }), Appkeys.AppError],
];

for (const [name, sdk, newApp, ErrorClass] of sdks) {
  test(`${name}: Credentials.jwt logs in the subject's user every time (ES256 and RS256), with metadata and API keys`, async () => {
    const sub = subject("login");
    const user = await newApp().logIn(sdk.Credentials.jwt(await token(sub)));
    assert.equal(user.providerType, "custom-token");
    const again = await newApp().logIn(sdk.Credentials.jwt(await token(sub, { alg: "RS256" })));
    assert.equal(again.id, user.id, "same subject, same user, whichever key signed");
    const other = await newApp().logIn(sdk.Credentials.jwt(await token(subject("other"))));
    assert.notEqual(other.id, user.id);
    assert.equal(user.profile.name, `Name of ${sub}`);
    assert.equal(user.profile.plan, "pro");
    assert.deepEqual(
      user.identities.map((i) => [i.id, i.providerType]),
      [[sub, "custom-token"]],
    );
    // Custom-token users own user API keys; the key logs in as them.
    const key = await user.apiKeys.create("jwt-user-key");
    const byKey = await newApp().logIn(sdk.Credentials.apiKey(key.key));
    assert.equal(byKey.id, user.id);
    assert.deepEqual((await user.apiKeys.fetchAll()).map((k) => k.name), ["jwt-user-key"]);
  });

  test(`${name}: refused tokens are 401 AuthError errors`, async () => {
    const sub = subject("refused");
    for (const [what, bad] of [
      ["expired", await idp.issue(sub, { billing: { plan: "x" } }, { expiresIn: -120 })],
      ["no required metadata", await idp.issue(sub, { name: "x" })],
      ["tampered", (await token(sub)).replace(/\.[^.]+\./, `.${Buffer.from(JSON.stringify({ sub: "root", aud: AUDIENCE })).toString("base64url")}.`)],
    ]) {
      const e = await rejectsWith(newApp().logIn(sdk.Credentials.jwt(bad)), 401, "AuthError", ErrorClass);
      assert.match(e.message, /invalid custom JWT/, what);
    }
  });

  test(`${name}: an anonymous user registers and links email/password, keeping its id`, async () => {
    const app = newApp();
    const anon = await app.logIn(sdk.Credentials.anonymous());
    const email = uniqueEmail("link");
    await app.emailPasswordAuth.registerUser({ email, password: PASSWORD });
    // Issue 29: an address nobody proved joins no user; a confirmation link sent to it proves it.
    await rejectsWith(anon.linkCredentials(sdk.Credentials.emailPassword(email, PASSWORD)), 401, "UserNotConfirmed", ErrorClass);
    assert.deepEqual(anon.identities.map((i) => i.providerType), ["anon-user"]);
    await proveAddress(app, email);
    await anon.linkCredentials(sdk.Credentials.emailPassword(email, PASSWORD));
    assert.deepEqual(anon.identities.map((i) => i.providerType), ["anon-user", "local-userpass"]);
    assert.equal(anon.profile.email, email);
    const byPassword = await newApp().logIn(sdk.Credentials.emailPassword(email, PASSWORD));
    assert.equal(byPassword.id, anon.id);
    // No longer anonymous: it may own keys now.
    const key = await anon.apiKeys.create("after-linking");
    assert.equal((await newApp().logIn(sdk.Credentials.apiKey(key.key))).id, anon.id);
  });

  test(`${name}: a password reset takes back an account someone linked their JWT to first (issue 29)`, async () => {
    // The attacker registers the owner's address (confirmation is off here), uses it, and links a JWT of theirs.
    const email = uniqueEmail("prehijack");
    const attackerApp = newApp();
    await attackerApp.emailPasswordAuth.registerUser({ email, password: PASSWORD });
    const squatter = await attackerApp.logIn(sdk.Credentials.emailPassword(email, PASSWORD));
    const sub = subject("attacker");
    await squatter.linkCredentials(sdk.Credentials.jwt(await token(sub)));
    assert.equal((await newApp().logIn(sdk.Credentials.jwt(await token(sub)))).id, squatter.id);
    // The owner resets the password through the inbox.
    const owner = newApp();
    await owner.emailPasswordAuth.sendResetPasswordEmail({ email });
    const { token: resetToken, tokenId } = linkOf(await sink.waitFor((m) => m.to.includes(email) && /^Reset/.test(m.subject)));
    const newPassword = "owner-chose-this-1";
    await owner.emailPasswordAuth.resetPassword({ token: resetToken, tokenId, password: newPassword });
    const notice = await sink.waitFor((m) => m.to.includes(email) && m.subject.includes("Your password was reset"));
    assert.ok(notice.text.replace(/\s+/g, " ").includes(`custom-token (${sub})`), notice.text);
    // The JWT no longer opens the account: it makes a user of its own; the owner's account has its password only.
    const again = await newApp().logIn(sdk.Credentials.jwt(await token(sub)));
    assert.notEqual(again.id, squatter.id);
    const back = await owner.logIn(sdk.Credentials.emailPassword(email, newPassword));
    assert.equal(back.id, squatter.id);
    assert.deepEqual(back.identities.map((i) => i.providerType), ["local-userpass"]);
  });

  test(`${name}: anonymous and email/password users link a JWT; an identity of another user is refused`, async () => {
    const anon = await newApp().logIn(sdk.Credentials.anonymous());
    const sub = subject("link");
    await anon.linkCredentials(sdk.Credentials.jwt(await token(sub)));
    assert.deepEqual(anon.identities.map((i) => [i.providerType, i.id]), [["anon-user", anon.identities[0].id], ["custom-token", sub]]);
    assert.equal((await newApp().logIn(sdk.Credentials.jwt(await token(sub)))).id, anon.id);

    const app = newApp();
    const email = uniqueEmail("keys");
    await app.emailPasswordAuth.registerUser({ email, password: PASSWORD });
    const owner = await app.logIn(sdk.Credentials.emailPassword(email, PASSWORD));
    const key = await owner.apiKeys.create("kept");
    const ownerSub = subject("owner");
    await owner.linkCredentials(sdk.Credentials.jwt(await token(ownerSub)));
    assert.equal((await newApp().logIn(sdk.Credentials.jwt(await token(ownerSub)))).id, owner.id);
    assert.equal((await newApp().logIn(sdk.Credentials.apiKey(key.key))).id, owner.id);
    assert.deepEqual(owner.identities.map((i) => i.providerType), ["local-userpass", "custom-token"]);

    // The subject linked above belongs to `anon`'s user now: nobody else may link it.
    const stranger = await newApp().logIn(sdk.Credentials.anonymous());
    await rejectsWith(stranger.linkCredentials(sdk.Credentials.jwt(await token(sub))), 409, "IdentityAlreadyLinked", ErrorClass);
    // An email account that has logged in is a user of its own.
    await rejectsWith(stranger.linkCredentials(sdk.Credentials.emailPassword(email, PASSWORD)), 409, "IdentityAlreadyLinked", ErrorClass);
    assert.deepEqual(stranger.identities.map((i) => i.providerType), ["anon-user"]);
    // A session opened with a key cannot link.
    const keyed = await newApp().logIn(sdk.Credentials.apiKey(key.key));
    await rejectsWith(keyed.linkCredentials(sdk.Credentials.jwt(await token(subject("k")))), 403, "LinkForbidden", ErrorClass);
  });
}
