// Issue 31: authentication events as webhooks, delivered by real appkeys-server processes to a local receiver
// that verifies every delivery with the `standardwebhooks` npm package. A receiver failing its first tries gets
// every event in the end (same webhook-id on every try); `kill -9` between commit and delivery loses nothing;
// two instances on one database deliver each event once. Runs on SQLite and PostgreSQL (tests/multi is run on
// both). Changes are made through unmodified realm-web 2.0.1.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Webhook } from "standardwebhooks";
import * as Realm from "realm-web";
import { startServer, freshDatabase } from "../support/server.mjs";

const APP = "appkeys-demo";
const SECRET = `whsec_${randomBytes(32).toString("base64")}`;
let receiver;
let secretFile;

/**
 * A webhook receiver. `mode`: "ok" (204), "down" (503 to everything), or "flaky" (503 for the first two tries of
 * each webhook-id). Every verified delivery is kept; an unverifiable one is answered 400 and counted.
 */
async function startReceiver() {
  const hook = new Webhook(SECRET);
  const state = { mode: "ok", deliveries: [], tries: new Map(), unverified: 0 };
  const http = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      let payload;
      try {
        payload = hook.verify(body, req.headers);
      } catch {
        state.unverified += 1;
        res.writeHead(400).end();
        return;
      }
      const id = req.headers["webhook-id"];
      const tries = (state.tries.get(id) || 0) + 1;
      state.tries.set(id, tries);
      if (state.mode === "down" || (state.mode === "flaky" && tries <= 2)) {
        res.writeHead(503).end();
        return;
      }
      state.deliveries.push({ id, ...payload });
      res.writeHead(204).end();
    });
  });
  await new Promise((r) => http.listen(0, "127.0.0.1", r));
  state.url = `http://127.0.0.1:${http.address().port}/hooks`;
  state.close = () => new Promise((r) => http.close(r));
  return state;
}

/** Resolves once `check()` is true (polling), or fails after `ms`. */
async function eventually(check, ms, what) {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const webhookArgs = (events = []) => [
  "--webhook-url", receiver.url, "--webhook-secret-file", secretFile,
  ...events.flatMap((e) => ["--webhook-events", e]),
];

before(async () => {
  receiver = await startReceiver();
  const dir = mkdtempSync(join(tmpdir(), "appkeys-webhooks-"));
  secretFile = join(dir, "webhook-secret");
  writeFileSync(secretFile, `${SECRET}\n`, { mode: 0o600 });
});

after(async () => {
  await receiver?.close();
});

test("a receiver failing its first tries gets every event, signed, with one id per event", async () => {
  receiver.mode = "flaky";
  receiver.deliveries.length = 0;
  receiver.tries.clear();
  const server = await startServer({ args: webhookArgs(["all"]) });
  try {
    const app = new Realm.App({ id: APP, baseUrl: server.url });
    const email = `hooked-${Date.now()}@example.com`;
    await app.emailPasswordAuth.registerUser({ email, password: "webhook password" });
    const user = await app.logIn(Realm.Credentials.emailPassword(email, "webhook password"));
    const key = await user.apiKeys.create("hooked");
    await user.apiKeys.disable(key._id);
    await user.apiKeys.enable(key._id);
    await user.apiKeys.delete(key._id);
    await app.deleteUser(user);
    const expected = [
      "user.created", "user.logged_in", "api_key.created", "api_key.disabled", "api_key.enabled",
      "api_key.deleted", "user.deleted",
    ];
    await eventually(() => receiver.deliveries.length >= expected.length, 30000, "every event");
    assert.deepEqual(receiver.deliveries.map((d) => d.type).sort(), [...expected].sort());
    for (const d of receiver.deliveries) {
      assert.equal(d.data.user_id, user.id, JSON.stringify(d));
      assert.equal(d.data.app_id, APP, JSON.stringify(d));
      assert.equal(receiver.tries.get(d.id), 3, "two refusals, then the same id again");
    }
    const keyEvents = receiver.deliveries.filter((d) => d.type.startsWith("api_key."));
    assert.ok(keyEvents.every((d) => d.data.key_id === key._id));
    assert.equal(new Set(receiver.deliveries.map((d) => d.id)).size, expected.length);
    assert.equal(receiver.unverified, 0);
  } finally {
    await server.stop();
  }
});

test("kill -9 between commit and delivery loses nothing", async () => {
  receiver.mode = "down";
  receiver.deliveries.length = 0;
  receiver.tries.clear();
  const server = await startServer({ args: webhookArgs() });
  try {
    const app = new Realm.App({ id: APP, baseUrl: server.url });
    const emails = Array.from({ length: 5 }, (_, i) => `killed-${i}-${Date.now()}@example.com`);
    for (const email of emails) await app.emailPasswordAuth.registerUser({ email, password: "webhook password" });
    await server.kill();
    assert.equal(receiver.deliveries.length, 0);
    receiver.mode = "ok";
    await server.restart();
    await eventually(() => receiver.deliveries.length >= emails.length, 30000, "the events written before the kill");
    assert.deepEqual(receiver.deliveries.map((d) => d.type), emails.map(() => "user.created"));
    assert.equal(new Set(receiver.deliveries.map((d) => d.id)).size, emails.length);
  } finally {
    await server.stop();
  }
});

test("two instances on one database deliver each event once", async () => {
  receiver.mode = "ok";
  receiver.deliveries.length = 0;
  receiver.tries.clear();
  const db = freshDatabase();
  const A = await startServer({ databaseUrl: db.url, args: webhookArgs() });
  const B = await startServer({ databaseUrl: db.url, args: webhookArgs() });
  try {
    const n = 24;
    await Promise.all(
      Array.from({ length: n }, (_, i) => {
        const server = i % 2 ? A : B;
        const app = new Realm.App({ id: APP, baseUrl: server.url });
        return app.emailPasswordAuth.registerUser({ email: `twice-${i}-${Date.now()}@example.com`, password: "webhook password" });
      }),
    );
    await eventually(() => receiver.deliveries.length >= n, 30000, "every event");
    // Give a second delivery every chance to happen before counting.
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(receiver.deliveries.length, n);
    assert.equal(new Set(receiver.deliveries.map((d) => d.id)).size, n);
    assert.ok([...receiver.tries.values()].every((t) => t === 1));
  } finally {
    await B.stop();
    await A.stop();
    db.cleanup();
  }
});
