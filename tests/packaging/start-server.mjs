// Starts the one appkeys-server of a packaging run (tests/support/server.mjs: fresh SQLite database by default),
// writes its base URL to the file given as argument, and stops it (removing the database) on SIGTERM/SIGINT.
//   node tests/packaging/start-server.mjs URL_FILE
import { writeFileSync } from "node:fs";
import { startServer } from "../support/server.mjs";

const urlFile = process.argv[2];
if (!urlFile) {
  console.error("usage: node start-server.mjs URL_FILE");
  process.exit(2);
}
// The scopes the example API checks (examples-js/api-server) and the key manager offers; usage written every second.
const server = await startServer({
  args: [
    "--api-key-scope", "orders:read=Read orders",
    "--api-key-scope", "orders:write=Create and change orders",
    "--audit-interval", "1",
  ],
});
writeFileSync(urlFile, server.url + "\n");
let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  await server.stop();
  process.exit(0);
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
// Keep the event loop alive while the child process runs; report if the server dies under the tests.
setInterval(() => {}, 1 << 30);
