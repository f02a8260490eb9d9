// A backend service calling your API on behalf of a user, with one of that user's API keys: it logs in with
// the key through the appkeys SDK and sends the access token it gets to the API (api.mjs).
//   APPKEYS_URL=http://127.0.0.1:9090 API_URL=http://127.0.0.1:8080 [APPKEYS_API_KEY=appk_…] node service.mjs
// Without APPKEYS_API_KEY it first plays the key's owner: registers, logs in and creates the key.
import { App, Credentials } from "appkeys";

const APPKEYS_URL = process.env.APPKEYS_URL || "http://127.0.0.1:9090";
const API_URL = process.env.API_URL || "http://127.0.0.1:8080";
const APP_ID = process.env.APPKEYS_APP || "appkeys-demo";

async function ownerCreatesKey(app) {
  const email = `owner-${Date.now()}@example.com`;
  const password = "correct horse battery";
  await app.emailPasswordAuth.registerUser({ email, password });
  const owner = await app.logIn(Credentials.emailPassword(email, password));
  const key = await owner.apiKeys.create("orders-service");
  console.log(`owner       ${owner.id} created key ${key._id} ("${key.name}")`);
  await owner.logOut();
  return key.key;
}

async function main() {
  const app = new App({ id: APP_ID, baseUrl: APPKEYS_URL });
  const secret = process.env.APPKEYS_API_KEY || (await ownerCreatesKey(app));
  const service = await app.logIn(Credentials.apiKey(secret));
  console.log(`service     logged in with the key as user ${service.id}`);
  const res = await fetch(`${API_URL}/whoami`, { headers: { Authorization: `Bearer ${service.accessToken}` } });
  const answer = await res.json();
  console.log(`API says    ${res.status} ${JSON.stringify(answer)}`);
  if (!res.ok || answer.userId !== service.id || !answer.viaApiKey) {
    throw new Error("the API did not recognise the service as the key's owner");
  }
  console.log("Service call finished");
}

main().catch((err) => {
  console.error(`Service call FAILED: ${err.message}`);
  process.exit(1);
});
