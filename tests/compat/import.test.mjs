// Users imported from App Services (issue 23) keep their ids through unmodified realm-web 2.0.1: an operator imports
// the Admin API's user list with `--send-reset-emails`, the server sends the email through a real SMTP server, the
// user opens the link (realm-web's `resetPassword`), then logs in — as the App Services user id the app's data
// refers to. Importing again sends no second email.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startSmtpSink, linkOf } from "../support/smtp-sink.mjs";
import * as Realm from "realm-web";
import { serverBin, startServer } from "../support/server.mjs";
import { APP_ID, TestStorage, sleep } from "../support/util.mjs";

const USER_ID = "64b7f1e2a3c4d5e6f7a8b9c0";
let server;
let dir;
let sink;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), "appkeys-import-"));
  sink = await startSmtpSink();
  server = await startServer({
    args: ["--smtp-url", sink.url, "--reset-url", "http://keys.example.test/reset"],
  });
});
after(async () => {
  await server?.stop();
  await sink?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("realm-web: an imported user resets the password from the emailed link and logs in with the App Services id", async () => {
  const file = join(dir, "users.json");
  writeFileSync(
    file,
    JSON.stringify([
      {
        _id: USER_ID,
        identities: [{ id: "64b7f1e2a3c4d5e6f7a8b9c1", provider_type: "local-userpass", provider_id: "lp" }],
        type: "normal",
        creation_date: 1_690_000_000,
        last_authentication_date: 1_700_000_000,
        disabled: false,
        data: { email: "migrated@example.com" },
      },
    ]),
  );
  const importFile = () =>
    execFileSync(
      serverBin,
      ["users", "import", file, "--app", APP_ID, "--send-reset-emails", "--database-url", server.databaseUrl],
      { encoding: "utf8", env: { ...process.env, APPKEYS_DATABASE_URL: "" } },
    );
  assert.match(importFile(), /imported 1 user /);
  const mail = await sink.waitFor((m) => m.to.includes("migrated@example.com") && m.subject.includes("Choose a password"));
  const { token, tokenId } = linkOf(mail);
  const app = new Realm.App({ id: APP_ID, baseUrl: server.url, storage: new TestStorage() });
  await app.emailPasswordAuth.resetPassword({ token, tokenId, password: "my new pass phrase" });
  const user = await app.logIn(Realm.Credentials.emailPassword("migrated@example.com", "my new pass phrase"));
  assert.equal(user.id, USER_ID);
  assert.equal(user.profile.email, "migrated@example.com");
  // Importing the same file again: nothing imported, no second email.
  assert.match(importFile(), /imported 0 users[\s\S]*reset emails queued: 0/);
  await sleep(1500);
  assert.equal(sink.messages.filter((m) => m.subject.includes("Choose a password")).length, 1);
});
