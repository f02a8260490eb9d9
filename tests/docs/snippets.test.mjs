// Issue 34: every JavaScript code block of the README, the npm package's README and the migration guide runs as
// printed against a real appkeys-server (and the built package), so a snippet that stops working fails the test
// command. The Markdown is read with markdown-it (a CommonMark parser), so every fenced block is seen.
//
// A block runs verbatim as an ES module, with two kinds of help, both visible in the Markdown source:
// - the documented addresses are the test server's: `http://127.0.0.1:9090` and `https://auth.example.com` become
//   its URL, `YOUR_APP_ID` and `my-app-id` its app id (see ADDRESSES);
// - a block that continues the text around it (it uses `app`, `email`, …) names what it needs in an HTML comment
//   just before it, `<!-- doc-test: app account -->`; SETUPS below says what each name declares.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import * as Appkeys from "appkeys";
import { startServer, repoRoot } from "../support/server.mjs";
import { fences } from "./markdown.mjs";
import { APP_ID, PASSWORD, uniqueEmail } from "../support/util.mjs";
import { startSmtpSink, linkOf } from "../support/smtp-sink.mjs";
import { startIdentityProvider } from "../../examples-js/identity-provider/idp.mjs";

const run = promisify(execFile);
const DOCUMENTS = ["README.md", "pkg-template/README.md", "docs/COMING-FROM-APP-SERVICES.md"];
const JS = new Set(["js", "javascript", "mjs"]);
// Inside the repository, so that `appkeys` (the built package) and the dev dependencies (`jose`, `realm-web`)
// resolve as they would in a user's project; target/ is ignored by git.
const WORK = join(repoRoot, "target", "doc-snippets");

let server;
let sink;
let idp;

before(async () => {
  sink = await startSmtpSink();
  idp = await startIdentityProvider({ audience: APP_ID });
  server = await startServer({
    args: [
      // Links emailed on request (resendConfirmationEmail proves an address); registration stays unconfirmed-free,
      // as in the quickstart.
      "--smtp-url", sink.url,
      "--confirm-url", "http://app.example.test/confirm",
      "--reset-url", "http://app.example.test/reset",
      "--custom-jwt-jwks-url", idp.jwksUrl,
      "--custom-jwt-issuer", idp.issuer,
    ],
  });
});

after(async () => {
  await server?.stop();
  await idp?.close();
  await sink?.close();
});

const ADDRESSES = () => [
  ["http://127.0.0.1:9090", server.url],
  ["https://auth.example.com", server.url],
  ["YOUR_APP_ID", APP_ID],
  ["my-app-id", APP_ID],
];

const literal = (value) => JSON.stringify(value);
const newApp = () => new Appkeys.App({ id: APP_ID, baseUrl: server.url });

/** Registers a fresh account with PASSWORD through `app`: its email. */
async function register(app, tag) {
  const email = uniqueEmail(tag);
  await app.emailPasswordAuth.registerUser({ email, password: PASSWORD });
  return email;
}

/** What each setup name declares before a block runs: name -> async () => source text. */
const SETUPS = {
  // `App`, `Credentials` and `app`, as the quickstart made them.
  app: async () =>
    `import { App, Credentials } from "appkeys";\n` +
    `const app = new App({ id: ${literal(APP_ID)}, baseUrl: ${literal(server.url)} });\n`,
  // `email` and `password` of a registered account.
  account: async () => {
    const email = await register(newApp(), "doc");
    return `const email = ${literal(email)};\nconst password = ${literal(PASSWORD)};\n`;
  },
  // `email` and `password` of an account registered and proven by the link emailed to it, never logged in
  // (what linking an email/password identity needs).
  "proven-account": async () => {
    const app = newApp();
    const email = await register(app, "doc-proven");
    await app.emailPasswordAuth.resendConfirmationEmail({ email });
    const mail = await sink.waitFor((m) => m.to.includes(email) && /confirm/i.test(m.subject));
    await app.emailPasswordAuth.confirmUser(linkOf(mail));
    return `const email = ${literal(email)};\nconst password = ${literal(PASSWORD)};\n`;
  },
  // `token`: an access token of a logged-in user.
  token: async () => {
    const app = newApp();
    const email = await register(app, "doc-token");
    const user = await app.logIn(Appkeys.Credentials.emailPassword(email, PASSWORD));
    return `const token = ${literal(user.accessToken)};\n`;
  },
  // `tokenFromYourIdp`: a token of the identity provider the server trusts (examples-js/identity-provider).
  "idp-token": async () => `const tokenFromYourIdp = ${literal(await idp.issue(`doc|${Date.now()}`))};\n`,
};

/** Every JavaScript block of `file`: { file, line, code, setups }. */
function blocks(file) {
  return fences(file)
    .filter((block) => JS.has(block.lang))
    .map(({ line, code, comment }) => {
      const marker = /<!--\s*doc-test:([^>]*?)-->/.exec(comment);
      return { file, line, code, setups: marker ? marker[1].trim().split(/\s+/).filter(Boolean) : [] };
    });
}

const all = DOCUMENTS.flatMap(blocks);

test("the documents have JavaScript blocks to run (the parser found them)", () => {
  for (const file of DOCUMENTS) {
    assert.ok(all.some((b) => b.file === file), `${file}: no JavaScript block found`);
  }
});

for (const block of all) {
  test(`${block.file}:${block.line} runs as printed`, async () => {
    const unknown = block.setups.filter((name) => !(name in SETUPS));
    assert.deepEqual(unknown, [], `unknown doc-test setup names (known: ${Object.keys(SETUPS).join(", ")})`);
    let code = block.code;
    for (const [from, to] of ADDRESSES()) code = code.split(from).join(to);
    let prelude = "";
    for (const name of block.setups) prelude += await SETUPS[name]();
    mkdirSync(WORK, { recursive: true });
    const path = join(WORK, `${block.file.replace(/[^A-Za-z0-9]+/g, "-")}-${block.line}.mjs`);
    writeFileSync(path, `${prelude}${code}`);
    try {
      await run(process.execPath, [path], { cwd: WORK, timeout: 60_000 });
    } catch (e) {
      assert.fail(
        `${block.file}:${block.line}: the block failed (${path})\n--- stderr\n${e.stderr}\n--- stdout\n${e.stdout}`,
      );
    }
  });
}
