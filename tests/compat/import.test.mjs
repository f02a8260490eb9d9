// Users imported from App Services (issue 23) keep their ids through unmodified realm-web 2.0.1: an operator imports
// the Admin API's user list with `--send-reset-emails`, the user opens the emailed link (realm-web's
// `resetPassword`), then logs in — as the App Services user id the app's data refers to.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { simpleParser } from "mailparser";
import * as Realm from "realm-web";
import { serverBin, startServer } from "../support/server.mjs";
import { APP_ID, TestStorage, sleep } from "../support/util.mjs";

const USER_ID = "64b7f1e2a3c4d5e6f7a8b9c0";
let server;
let dir;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), "appkeys-import-"));
  server = await startServer({
    args: ["--mail-dir", join(dir, "mail"), "--reset-url", "http://keys.example.test/reset"],
  });
});
after(async () => {
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function nextMail(subject) {
  for (let i = 0; i < 300; i++) {
    let files = [];
    try {
      files = readdirSync(join(dir, "mail")).filter((f) => f.endsWith(".eml"));
    } catch {}
    for (const f of files) {
      const m = await simpleParser(readFileSync(join(dir, "mail", f)));
      if (m.subject.includes(subject)) return m;
    }
    await sleep(20);
  }
  throw new Error(`no email "${subject}"`);
}

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
  const out = execFileSync(
    serverBin,
    ["users", "import", file, "--app", APP_ID, "--send-reset-emails", "--database-url", server.databaseUrl],
    { encoding: "utf8", env: { ...process.env, APPKEYS_DATABASE_URL: "" } },
  );
  assert.match(out, /imported 1 users/);
  const mail = await nextMail("Choose a password");
  const link = new URL(/https?:\/\/\S+/.exec(mail.text)[0]);
  const app = new Realm.App({ id: APP_ID, baseUrl: server.url, storage: new TestStorage() });
  await app.emailPasswordAuth.resetPassword({
    token: link.searchParams.get("token"),
    tokenId: link.searchParams.get("tokenId"),
    password: "my new pass phrase",
  });
  const user = await app.logIn(Realm.Credentials.emailPassword("migrated@example.com", "my new pass phrase"));
  assert.equal(user.id, USER_ID);
  assert.equal(user.profile.email, "migrated@example.com");
});
