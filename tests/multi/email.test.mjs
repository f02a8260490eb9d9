// Confirmation and reset across two appkeys-server processes on one database (issue 14): a link emailed by one
// instance works on the other, and works once across both. Plain fetch against the wire protocol; the emails go
// to a real SMTP server (tests/support/smtp-sink.mjs).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { startServer, freshDatabase, backend } from "../support/server.mjs";
import { linkOf, startSmtpSink } from "../support/smtp-sink.mjs";

const APP = "appkeys-demo";
const P = `/api/client/v2.0/app/${APP}/auth/providers/local-userpass`;
let A;
let B;
let db;
let sink;

before(async () => {
  sink = await startSmtpSink();
  db = freshDatabase();
  const args = [
    "--email-confirmation",
    "--smtp-url", sink.url,
    "--confirm-url", "http://keys.example.test/confirm",
    "--reset-url", "http://keys.example.test/reset",
  ];
  A = await startServer({ databaseUrl: db.url, args });
  B = await startServer({ databaseUrl: db.url, args });
});

after(async () => {
  await B?.stop();
  await A?.stop();
  await sink?.close();
  db?.cleanup();
});

async function post(server, route, body) {
  const res = await fetch(`${server.url}${P}/${route}`, {
    method: "POST",
    headers: { Accept: "application/json", "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

const login = (server, username, password) => post(server, "login", { username, password });
const mailTo = async (email, word) =>
  linkOf(await sink.waitFor((m) => m.to.includes(email) && m.subject.includes(word)));

test(`[${backend}] a link emailed via one instance works via the other, once`, async () => {
  const email = `multi-mail-${randomBytes(5).toString("hex")}@example.com`;
  assert.equal((await post(A, "register", { email, password: "first password" })).status, 201);
  assert.equal((await login(B, email, "first password")).json.error_code, "UserNotConfirmed");

  const confirm = await mailTo(email, "Confirm");
  assert.equal((await post(B, "confirm", { token: confirm.token, tokenId: confirm.tokenId })).status, 204);
  assert.equal((await post(A, "confirm", { token: confirm.token, tokenId: confirm.tokenId })).json.error_code,
    "UserpassTokenInvalid");
  const session = await login(A, email, "first password");
  assert.equal(session.status, 200);

  assert.equal((await post(B, "reset/send", { email })).status, 202);
  const reset = await mailTo(email, "Reset");
  const body = { token: reset.token, tokenId: reset.tokenId, password: "second password" };
  // The same link sent to both at once: exactly one sets the password.
  const answers = await Promise.all([post(A, "reset", body), post(B, "reset", body)]);
  assert.deepEqual(answers.map((a) => a.status).sort(), [204, 400]);
  assert.equal(answers.find((a) => a.status === 400).json.error_code, "UserpassTokenInvalid");

  for (const server of [A, B]) {
    assert.equal((await login(server, email, "first password")).status, 401);
    assert.equal((await login(server, email, "second password")).status, 200);
  }
  // The session opened before the reset ended on both instances.
  for (const server of [A, B]) {
    const res = await fetch(`${server.url}/api/client/v2.0/auth/session`, {
      method: "POST",
      headers: { Authorization: `Bearer ${session.json.refresh_token}` },
    });
    assert.equal(res.status, 401);
  }
});
