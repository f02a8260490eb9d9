// Starts real `appkeys-server` processes for JavaScript tests.
//
// Every test suite that needs a server uses this module, so all of them run against the same
// binary and the same database backends:
//   APPKEYS_SERVER_BIN        path of the server binary (default: target/debug/appkeys-server)
//   APPKEYS_TEST_BACKEND      "sqlite" (default) or "postgres"
//   APPKEYS_TEST_PG_ADMIN_URL with postgres: URL of a database the tests may CREATE DATABASE from
//                             (scripts/pg.sh prints it)
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { createServer } from "node:net";

/** A loopback port that was free a moment ago (for a server whose URL must be known before it starts). */
export async function freePort() {
  const probe = createServer();
  await new Promise((r) => probe.listen(0, "127.0.0.1", r));
  const { port } = probe.address();
  await new Promise((r) => probe.close(r));
  return port;
}

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const serverBin =
  process.env.APPKEYS_SERVER_BIN || join(repoRoot, "target/debug/appkeys-server");
export const backend = process.env.APPKEYS_TEST_BACKEND || "sqlite";

/** The signing secret of PostgreSQL test servers: PostgreSQL needs a configured one (shared by all
 * instances of a test); SQLite servers generate theirs next to the database. */
export const PG_TEST_SECRET = "postgres-test-secret-postgres-test-secret";

let pgKeyFile = null;
/** The access-token signing key file of PostgreSQL test servers: one P-256 key per test process, shared
 * by its instances (SQLite servers generate theirs next to the database). */
export function pgSigningKeyFile() {
  if (!pgKeyFile) {
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    pgKeyFile = join(mkdtempSync(join(tmpdir(), "appkeys-keys-")), "signing-key.pem");
    writeFileSync(pgKeyFile, privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
  }
  return pgKeyFile;
}

function backendEnv() {
  if (backend !== "postgres") return {};
  return {
    ...(process.env.APPKEYS_JWT_SECRET ? {} : { APPKEYS_JWT_SECRET: PG_TEST_SECRET }),
    ...(process.env.APPKEYS_SIGNING_KEY_FILE ? {} : { APPKEYS_SIGNING_KEY_FILE: pgSigningKeyFile() }),
  };
}

/** A fresh, empty database for one test server: a SQLite file in a temp dir, or a new PostgreSQL database. */
export function freshDatabase() {
  if (backend === "postgres") {
    const admin = process.env.APPKEYS_TEST_PG_ADMIN_URL;
    if (!admin) throw new Error("APPKEYS_TEST_BACKEND=postgres needs APPKEYS_TEST_PG_ADMIN_URL");
    const name = `appkeys_test_${randomBytes(6).toString("hex")}`;
    execFileSync("psql", [admin, "-v", "ON_ERROR_STOP=1", "-qc", `CREATE DATABASE ${name}`]);
    const url = new URL(admin);
    url.pathname = `/${name}`;
    return { url: url.toString(), cleanup() {} };
  }
  if (backend !== "sqlite") throw new Error(`unknown APPKEYS_TEST_BACKEND ${backend}`);
  const dir = mkdtempSync(join(tmpdir(), "appkeys-test-"));
  return {
    url: `sqlite://${join(dir, "appkeys.db")}`,
    dir,
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Starts `appkeys-server` on a free loopback port.
 * options.databaseUrl: reuse an existing database (e.g. a second instance, or a restart)
 * options.args: extra command-line flags (e.g. ["--access-token-ttl", "2"])
 * options.env: extra environment variables
 * options.stderr: "ignore" to discard the server's log (benchmarks at RUST_LOG=info)
 * options.listen: the address to listen on (default 127.0.0.1:0, a free port)
 * options.bin: another server binary (benchmarks comparing two builds; default APPKEYS_SERVER_BIN)
 * Resolves to { url, databaseUrl, stop(), kill(), restart(), logs() }.
 */
export async function startServer(options = {}) {
  let db = null;
  let databaseUrl = options.databaseUrl;
  if (!databaseUrl) {
    db = freshDatabase();
    databaseUrl = db.url;
  }
  const args = ["--listen", options.listen || "127.0.0.1:0", "--database-url", databaseUrl, ...(options.args || [])];
  let child = null;
  let stderr = "";
  let url = null;

  async function launch(listen) {
    const argv = args.slice();
    if (listen) argv[1] = listen;
    stderr = "";
    child = spawn(options.bin || serverBin, argv, {
      env: { ...process.env, RUST_LOG: process.env.RUST_LOG || "warn", ...backendEnv(), ...(options.env || {}) },
      stdio: ["ignore", "pipe", options.stderr === "ignore" ? "ignore" : "pipe"],
    });
    child.stderr?.on("data", (d) => {
      stderr += d;
    });
    url = await new Promise((resolvePromise, reject) => {
      let out = "";
      const timer = setTimeout(() => reject(new Error(`server did not start in 30 s:\n${stderr}`)), 30000);
      child.stdout.on("data", (d) => {
        out += d;
        const m = out.match(/listening on (http:\/\/\S+)/);
        if (m) {
          clearTimeout(timer);
          resolvePromise(m[1]);
        }
      });
      child.on("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`server exited with ${code} before listening:\n${stderr}`));
      });
    });
    child.removeAllListeners("exit");
  }

  const gone = () => !child || child.exitCode !== null || child.signalCode !== null;

  async function halt() {
    if (gone()) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await exited;
  }

  await launch();
  const handle = {
    get url() {
      return url;
    },
    databaseUrl,
    logs: () => stderr,
    /** Stops the process (SIGTERM, graceful) and removes a temporary SQLite database. */
    async stop() {
      await halt();
      if (db) db.cleanup();
    },
    /** Kills the process at once (SIGKILL: no graceful shutdown, nothing flushed). */
    async kill() {
      if (gone()) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGKILL");
      await exited;
    },
    /** Stops and starts the process again on the same port and database. */
    async restart() {
      const { host } = new URL(url);
      await halt();
      await launch(host);
      return handle;
    },
  };
  return handle;
}
