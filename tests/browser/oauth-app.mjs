// The app page of the redirect-flow test: logs in with realm-web's `Credentials.google({ redirectUrl })`, which
// opens the login window, and puts the outcome in window.__result.
import * as Realm from "realm-web";

const params = new URLSearchParams(location.search);
const app = new Realm.App({ id: "appkeys-demo", baseUrl: params.get("server") });
app
  .logIn(Realm.Credentials.google({ redirectUrl: `${location.origin}/oauth-done.html` }))
  .then((user) => {
    window.__result = {
      id: user.id,
      providerType: user.providerType,
      identities: user.identities.map((i) => [i.providerType, i.id]),
      name: user.profile.name,
      loggedIn: user.isLoggedIn,
    };
  })
  .catch((e) => {
    window.__result = { error: String(e && e.message) };
  });
