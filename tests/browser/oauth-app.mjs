// The app page of the redirect-flow test: logs in with `?sdk=` (realm-web 2.0.1 unmodified, or appkeys) and
// `?provider=` (`Credentials.google({ redirectUrl })`, `Credentials.apple(url)`, `Credentials.facebook(url)`),
// which opens the login window, and puts the outcome in window.__result. The window lands on the landing
// page of the same SDK, whose handleAuthRedirect() hands the result back.
import * as RealmWeb from "realm-web";
import * as Appkeys from "appkeys";

const params = new URLSearchParams(location.search);
const sdk = params.get("sdk") === "appkeys" ? Appkeys : RealmWeb;
const landing = `${location.origin}/oauth-done-${params.get("sdk")}.html`;
const credentials = {
  google: () => sdk.Credentials.google({ redirectUrl: landing }),
  apple: () => sdk.Credentials.apple(landing),
  facebook: () => sdk.Credentials.facebook(landing),
}[params.get("provider")]();
const app = new sdk.App({ id: "appkeys-demo", baseUrl: params.get("server") });
app
  .logIn(credentials)
  .then((user) => {
    window.__result = {
      id: user.id,
      providerType: user.providerType,
      identities: user.identities.map((i) => [i.providerType, i.id]),
      name: user.profile.name,
      loggedIn: user.isLoggedIn,
      current: app.currentUser === user,
    };
  })
  .catch((e) => {
    window.__result = { error: String(e && e.message) };
  });
