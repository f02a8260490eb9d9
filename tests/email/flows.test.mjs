// Account confirmation and password reset end to end (issue 14): unmodified realm-web 2.0.1 and our SDK
// package, each against a real appkeys-server process (SQLite or PostgreSQL, APPKEYS_TEST_BACKEND) that
// sends its emails to a real SMTP server (tests/support/smtp-sink.mjs). The tokens come from the links of
// the received messages, as a user's mail client would show them.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import * as Realm from "realm-web";
import * as appkeys from "appkeys";
import { startServer } from "../support/server.mjs";
import { startSmtpSink, linkOf } from "../support/smtp-sink.mjs";
import { APP_ID, PASSWORD, TestStorage, rejectsWith, sleep, uniqueEmail } from "../support/util.mjs";

const CONFIRM_URL = "http://keys.example.test/confirm";
const RESET_URL = "http://keys.example.test/reset";
const NEW_PASSWORD = "a-brand-new-password";

const clients = {
  "realm-web": {
    newApp: (url) => new Realm.App({ id: APP_ID, baseUrl: url, storage: new TestStorage() }),
    Credentials: Realm.Credentials,
    ErrorClass: Realm.MongoDBRealmError,
  },
  appkeys: {
    newApp: (url) => new appkeys.App({ id: APP_ID, baseUrl: url }),
    Credentials: appkeys.Credentials,
    ErrorClass: appkeys.AppError,
  },
};

let sink;
let server;
let shortTtl;
/** Every secret the tests saw (tokens, passwords): none may appear in the server's logs. */
const secrets = new Set([PASSWORD, NEW_PASSWORD]);

function emailArgs(extra = []) {
  return [
    "--email-confirmation",
    "--smtp-url", sink.url,
    "--confirm-url", CONFIRM_URL,
    "--reset-url", RESET_URL,
    "--mail-from", "appkeys tests <keys@example.test>",
    ...extra,
  ];
}

before(async () => {
  sink = await startSmtpSink();
  const env = { RUST_LOG: "debug" };
  server = await startServer({ args: emailArgs(), env });
  shortTtl = await startServer({ args: emailArgs(["--email-token-ttl", "1"]), env });
});

after(async () => {
  await server?.stop();
  await shortTtl?.stop();
  await sink?.close();
});

/** The next message to `email` whose subject contains `word`: its link, `token` and `tokenId`. */
async function mailTo(email, word) {
  const message = await sink.waitFor((m) => m.to.includes(email) && m.subject.includes(word));
  assert.equal(message.from, "keys@example.test");
  const link = linkOf(message);
  secrets.add(link.token);
  return link;
}

/** The `{ token, tokenId }` argument of confirmUser from a received link. */
const details = ({ token, tokenId }) => ({ token, tokenId });

for (const [name, client] of Object.entries(clients)) {
  describe(name, () => {
    const rejects = (p, status, code) => rejectsWith(p, status, code, client.ErrorClass);
    const logIn = (app, email, password) => app.logIn(client.Credentials.emailPassword(email, password));

    test("register with confirmation on: login refused until the emailed link confirms", async () => {
      const app = client.newApp(server.url);
      const email = uniqueEmail(`${name}-confirm`);
      await app.emailPasswordAuth.registerUser({ email, password: PASSWORD });
      await rejects(logIn(app, email, PASSWORD), 401, "UserNotConfirmed");

      const { url, token, tokenId } = await mailTo(email, "Confirm");
      assert.equal(`${url.origin}${url.pathname}`, CONFIRM_URL);
      assert.match(token, /^[0-9a-f]{64}$/);
      assert.match(tokenId, /^[0-9a-f]{24}$/);
      assert.equal(await app.emailPasswordAuth.confirmUser({ token, tokenId }), undefined);
      const user = await logIn(app, email, PASSWORD);
      assert.equal(user.profile.email, email);
      // The link works once.
      await rejects(app.emailPasswordAuth.confirmUser({ token, tokenId }), 400, "UserpassTokenInvalid");
    });

    // Issue 21 changed this: a new link no longer voids the earlier ones (a stranger asking for one must not
    // void the owner's); using any link voids the others.
    test("resendConfirmationEmail sends a new link; the old one keeps working until one is used", async () => {
      const app = client.newApp(server.url);
      const email = uniqueEmail(`${name}-resend`);
      await app.emailPasswordAuth.registerUser({ email, password: PASSWORD });
      const first = await mailTo(email, "Confirm");
      assert.equal(await app.emailPasswordAuth.resendConfirmationEmail({ email }), undefined);
      const second = await sink.waitFor(
        (m) => m.to.includes(email) && linkOf(m).tokenId !== first.tokenId,
      );
      const { token, tokenId } = linkOf(second);
      secrets.add(token);
      await app.emailPasswordAuth.confirmUser(details(first));
      await rejects(app.emailPasswordAuth.confirmUser({ token, tokenId }), 400, "UserpassTokenInvalid");
      await logIn(app, email, PASSWORD);
    });

    test("sendResetPasswordEmail + resetPassword: new password works, old password and sessions do not", async () => {
      const app = client.newApp(server.url);
      const email = uniqueEmail(`${name}-reset`);
      await app.emailPasswordAuth.registerUser({ email, password: PASSWORD });
      await app.emailPasswordAuth.confirmUser(details(await mailTo(email, "Confirm")));
      const user = await logIn(app, email, PASSWORD);
      const key = await user.apiKeys.create("reset-survivor");
      secrets.add(key.key);

      assert.equal(await app.emailPasswordAuth.sendResetPasswordEmail({ email }), undefined);
      const { url, token, tokenId } = await mailTo(email, "Reset");
      assert.equal(`${url.origin}${url.pathname}`, RESET_URL);
      await rejects(
        app.emailPasswordAuth.resetPassword({ token, tokenId, password: "short" }),
        400,
        "InvalidParameter",
      );
      assert.equal(await app.emailPasswordAuth.resetPassword({ token, tokenId, password: NEW_PASSWORD }), undefined);

      // The old session ended: its refresh token is refused (API-key routes use it).
      await rejects(user.apiKeys.fetchAll(), 401, "InvalidSession");
      const other = client.newApp(server.url);
      await rejects(logIn(other, email, PASSWORD), 401, "InvalidPassword");
      const again = await logIn(other, email, NEW_PASSWORD);
      // Issue 21: the reset took the keys back — disabled, still listed; the owner re-enables theirs.
      const listed = await again.apiKeys.fetchAll();
      assert.deepEqual(listed.map((k) => [k.name, k.disabled]), [["reset-survivor", true]]);
      await rejects(other.logIn(client.Credentials.apiKey(key.key)), 401, "AuthError");
      await again.apiKeys.enable(key._id);
      assert.equal((await client.newApp(server.url).logIn(client.Credentials.apiKey(key.key))).id, again.id);
      // The owner heard of all of it, through the real SMTP server: the new key, the reset (and what it did),
      // the re-enabled key — never a secret.
      const notice = (subject) => sink.waitFor((m) => m.to.includes(email) && m.subject.includes(subject));
      const created = await notice("A new API key was created");
      assert.match(created.text, /"reset-survivor"/);
      assert.ok(!created.text.includes(key.key), "the secret is not in the notice");
      assert.match((await notice("Your password was reset")).text, /every API key of the account was disabled/);
      assert.match((await notice("An API key was re-enabled")).text, /"reset-survivor"/);
      // Used up.
      await rejects(
        other.emailPasswordAuth.resetPassword({ token, tokenId, password: "yet-another-password" }),
        400,
        "UserpassTokenInvalid",
      );
    });

    test("an unknown address gets the same answer and no email", async () => {
      const app = client.newApp(server.url);
      const unknown = uniqueEmail(`${name}-nobody`);
      assert.equal(await app.emailPasswordAuth.sendResetPasswordEmail({ email: unknown }), undefined);
      assert.equal(await app.emailPasswordAuth.resendConfirmationEmail({ email: unknown }), undefined);
      // A known address asked afterwards gets its email; by then the unknown one would have had its own.
      const known = uniqueEmail(`${name}-somebody`);
      await app.emailPasswordAuth.registerUser({ email: known, password: PASSWORD });
      await mailTo(known, "Confirm");
      await sleep(300);
      assert.equal(sink.messages.filter((m) => m.to.includes(unknown)).length, 0);
    });

    test("an expired reset token is refused", async () => {
      const app = client.newApp(shortTtl.url);
      const email = uniqueEmail(`${name}-expired`);
      await app.emailPasswordAuth.registerUser({ email, password: PASSWORD });
      await app.emailPasswordAuth.confirmUser(details(await mailTo(email, "Confirm")));
      await app.emailPasswordAuth.sendResetPasswordEmail({ email });
      const { token, tokenId } = await mailTo(email, "Reset");
      await sleep(1200);
      await rejects(
        app.emailPasswordAuth.resetPassword({ token, tokenId, password: NEW_PASSWORD }),
        400,
        "UserpassTokenInvalid",
      );
      await logIn(app, email, PASSWORD);
    });

    test("custom confirmation and reset functions reject with the server's error", async () => {
      const app = client.newApp(server.url);
      const email = uniqueEmail(`${name}-custom`);
      await rejects(app.emailPasswordAuth.retryCustomConfirmation({ email }), 400, "CustomFunctionNotSupported");
      await rejects(
        app.emailPasswordAuth.callResetPasswordFunction({ email, password: NEW_PASSWORD }, "extra"),
        400,
        "CustomFunctionNotSupported",
      );
    });
  });
}

test("nothing secret reaches the server's logs", async () => {
  const logs = server.logs() + shortTtl.logs();
  assert.ok(logs.includes("local-userpass/reset"), "the debug log has the requests");
  assert.ok(secrets.size > 4);
  for (const secret of secrets) assert.ok(!logs.includes(secret), `a secret is in the logs`);
  assert.ok(!/token=|tokenId=/.test(logs), "no link in the logs");
});
