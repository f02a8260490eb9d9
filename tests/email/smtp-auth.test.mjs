// SMTP credentials (issue 14): from APPKEYS_SMTP_USERNAME / APPKEYS_SMTP_PASSWORD or from the --smtp-url userinfo,
// against a real SMTP server that requires AUTH; wrong credentials: no email, the failure counted in /metrics.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { freePort, startServer } from "../support/server.mjs";
import { startSmtpSink } from "../support/smtp-sink.mjs";
import { APP_ID, PASSWORD, sleep, uniqueEmail } from "../support/util.mjs";

const P = `/api/client/v2.0/app/${APP_ID}/auth/providers/local-userpass`;
const SMTP_PASSWORD = "smtp-secret-1";
let sink;
const servers = [];

before(async () => {
  sink = await startSmtpSink({ users: { mailer: SMTP_PASSWORD } });
});
after(async () => {
  for (const s of servers) await s.stop();
  await sink?.close();
});

async function emailServer(smtpUrl, env = {}) {
  // The email counters are served on the private metrics listener only (issue 21).
  const metricsPort = await freePort();
  const server = await startServer({
    args: [
      "--smtp-url", smtpUrl, "--reset-url", "http://keys.example.test/reset",
      "--metrics-listen", `127.0.0.1:${metricsPort}`,
    ],
    env: { RUST_LOG: "info", ...env },
  });
  server.metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  servers.push(server);
  return server;
}

async function post(server, route, body) {
  const res = await fetch(`${server.url}${P}/${route}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  await res.arrayBuffer();
  return res.status;
}

/** Registers `email` and asks for its reset email. */
async function askReset(server, email) {
  assert.equal(await post(server, "register", { email, password: PASSWORD }), 201);
  assert.equal(await post(server, "reset/send", { email }), 202);
}

test("credentials from the environment", async () => {
  const server = await emailServer(sink.url, { APPKEYS_SMTP_USERNAME: "mailer", APPKEYS_SMTP_PASSWORD: SMTP_PASSWORD });
  const email = uniqueEmail("smtp-env");
  await askReset(server, email);
  const message = await sink.waitFor((m) => m.to.includes(email));
  assert.equal(message.user, "mailer");
  assert.ok(!server.logs().includes(SMTP_PASSWORD));
});

test("credentials in the --smtp-url userinfo", async () => {
  const url = new URL(sink.url);
  url.username = "mailer";
  url.password = SMTP_PASSWORD;
  const server = await emailServer(url.toString());
  const email = uniqueEmail("smtp-url");
  await askReset(server, email);
  const message = await sink.waitFor((m) => m.to.includes(email));
  assert.equal(message.user, "mailer");
});

test("wrong credentials: no email, the failure is counted and logged without the password", async () => {
  const server = await emailServer(sink.url, { APPKEYS_SMTP_USERNAME: "mailer", APPKEYS_SMTP_PASSWORD: "wrong-secret-2" });
  const email = uniqueEmail("smtp-wrong");
  const failuresBefore = sink.authFailures;
  await askReset(server, email);
  let metrics = "";
  for (let i = 0; i < 100 && !metrics.includes('appkeys_emails_total{kind="reset",outcome="failed"} 1'); i++) {
    await sleep(50);
    metrics = await (await fetch(server.metricsUrl)).text();
  }
  assert.match(metrics, /appkeys_emails_total\{kind="reset",outcome="failed"\} 1/);
  assert.ok(sink.authFailures > failuresBefore, "the SMTP server refused the login");
  assert.equal(sink.messages.filter((m) => m.to.includes(email)).length, 0);
  const logs = server.logs();
  assert.match(logs, /sending an email failed/);
  assert.ok(!logs.includes("wrong-secret-2"));
});
