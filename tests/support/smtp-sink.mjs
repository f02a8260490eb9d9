// A real SMTP server on a free loopback port (npm smtp-server) that keeps every message it receives,
// parsed with mailparser: what appkeys-server's confirmation and reset emails look like to a mail client.
import { SMTPServer } from "smtp-server";
import { simpleParser } from "mailparser";

/**
 * Starts the sink. `messages`: every message so far ({ to, from, subject, text, raw, user }); `waitFor(pred)`
 * resolves with the first message matching `pred` (rejects after `timeoutMs`); `close()` stops it.
 * `options.users` ({ name: password }): require SMTP AUTH (PLAIN/LOGIN, allowed without TLS here) with one of
 * them; `authFailures` counts refused logins.
 */
export async function startSmtpSink(options = {}) {
  const messages = [];
  const waiters = new Set();
  const users = options.users || null;
  const sink = { authFailures: 0 };
  const server = new SMTPServer({
    authOptional: !users,
    allowInsecureAuth: true,
    onAuth(auth, session, callback) {
      if (users && users[auth.username] === auth.password) return callback(null, { user: auth.username });
      sink.authFailures += 1;
      return callback(new Error("invalid username or password"));
    },
    disabledCommands: users ? ["STARTTLS"] : ["STARTTLS", "AUTH"],
    logger: false,
    // close() waits this long for clients (appkeys-server keeps pooled SMTP connections open) before it drops them.
    closeTimeout: 500,
    onData(stream, session, callback) {
      const chunks = [];
      stream.on("data", (c) => chunks.push(c));
      stream.on("end", async () => {
        const raw = Buffer.concat(chunks).toString("utf8");
        try {
          const parsed = await simpleParser(raw);
          const message = {
            to: session.envelope.rcptTo.map((r) => r.address),
            from: session.envelope.mailFrom && session.envelope.mailFrom.address,
            subject: parsed.subject,
            text: parsed.text,
            raw,
            user: session.user || null,
          };
          messages.push(message);
          for (const w of waiters) w(message);
          callback();
        } catch (err) {
          callback(err);
        }
      });
    },
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const port = server.server.address().port;
  return Object.assign(sink, {
    port,
    url: `smtp://127.0.0.1:${port}`,
    messages,
    /** The first message (already received or still to come) that `pred` accepts. */
    waitFor(pred, timeoutMs = 10_000) {
      const found = messages.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no matching email within ${timeoutMs} ms (got ${messages.length})`));
        }, timeoutMs);
        const check = (m) => {
          if (!pred(m)) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(m);
        };
        waiters.add(check);
      });
    },
    close: () => new Promise((resolve) => server.close(resolve)),
  });
}

/** The first http(s) link of a message's text and its `token` / `tokenId` query parameters. */
export function linkOf(message) {
  const match = /https?:\/\/\S+/.exec(message.text);
  if (!match) throw new Error(`no link in: ${message.text}`);
  const url = new URL(match[0]);
  return { url, token: url.searchParams.get("token"), tokenId: url.searchParams.get("tokenId") };
}
