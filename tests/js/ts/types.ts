// Exact types of the package's public surface (issue 3): checked by `tsc --noEmit -p tests/js/ts`.
// Every `@ts-expect-error` line must really be an error, so wrong or missing types fail the check.
import { App, Credentials, AppError, Realm, User, handleAuthRedirect } from "appkeys";
import type { ApiKey, ApiKeyAuth, CreateApiKeyOptions, NewApiKey, ProviderType, UserIdentity } from "appkeys";

type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const exact = <A, B>(_proof: Equals<A, B>): void => {};

declare const user: User;
declare const keys: ApiKeyAuth;

exact<ReturnType<ApiKeyAuth["create"]>, Promise<NewApiKey>>(true);
exact<ReturnType<ApiKeyAuth["fetch"]>, Promise<ApiKey>>(true);
exact<ReturnType<ApiKeyAuth["fetchAll"]>, Promise<ApiKey[]>>(true);
exact<ReturnType<ApiKeyAuth["enable"]>, Promise<void>>(true);
exact<ReturnType<ApiKeyAuth["disable"]>, Promise<void>>(true);
exact<ReturnType<ApiKeyAuth["delete"]>, Promise<void>>(true);
exact<Parameters<ApiKeyAuth["create"]>, [name: string, options?: CreateApiKeyOptions]>(true);
exact<ApiKey["expiresAt"], number | null>(true);
exact<CreateApiKeyOptions["expiresAt"], Date | number | undefined>(true);
exact<Parameters<ApiKeyAuth["fetch"]>, [keyId: string]>(true);
exact<typeof user.apiKey, ApiKeyAuth>(true);
exact<typeof user.apiKeys, ApiKeyAuth>(true);
exact<Realm.Auth.ApiKey, ApiKey>(true);
exact<Realm.User, User>(true);
exact<NewApiKey["key"], string>(true);
exact<ApiKey["_id"], string>(true);
exact<ApiKey["name"], string>(true);
exact<ApiKey["disabled"], boolean>(true);
exact<ReturnType<App["logIn"]>, Promise<User>>(true);
// Custom JWT login and account linking (issue 24)
exact<ReturnType<typeof Credentials.jwt>, Credentials>(true);
exact<Parameters<typeof Credentials.jwt>, [token: string]>(true);
exact<ReturnType<typeof Credentials.google>, Credentials>(true);
exact<
  Parameters<typeof Credentials.google>,
  [payload: { idToken: string } | { authCode: string } | { redirectUrl: string }]
>(true);
exact<Parameters<typeof Credentials.apple>, [redirect_url_or_id_token: string]>(true);
exact<Parameters<typeof Credentials.facebook>, [redirect_url_or_access_token: string]>(true);
exact<Parameters<typeof Credentials.function>, [payload: Record<string, unknown>]>(true);
exact<ReturnType<typeof Credentials.function>, Credentials>(true);
exact<ReturnType<User["linkCredentials"]>, Promise<void>>(true);
exact<Parameters<User["linkCredentials"]>, [credentials: Credentials]>(true);
exact<typeof user.identities, UserIdentity[]>(true);
exact<UserIdentity["providerType"], ProviderType>(true);
exact<ReturnType<User["removeIdentity"]>, Promise<void>>(true);
exact<Parameters<User["removeIdentity"]>, [identity: UserIdentity]>(true);
// Issue 32: roll, update, and the new options and fields.
exact<ReturnType<ApiKeyAuth["roll"]>, Promise<NewApiKey>>(true);
exact<Parameters<ApiKeyAuth["roll"]>, [keyId: string, options?: { expireOldAfter?: number }]>(true);
exact<ReturnType<ApiKeyAuth["update"]>, Promise<void>>(true);
exact<ApiKey["scopes"], string[] | undefined>(true);
exact<ApiKey["allowedIps"], string[] | undefined>(true);
exact<CreateApiKeyOptions["scopes"], string[] | undefined>(true);
// Issue 31: custom user data as realm-web types it.
exact<User["customData"], Record<string, unknown>>(true);
exact<ReturnType<User["refreshCustomData"]>, Promise<Record<string, unknown>>>(true);
// Issue 30: the redirect page's call.
exact<ReturnType<typeof handleAuthRedirect>, void>(true);
exact<Parameters<typeof handleAuthRedirect>, []>(true);
exact<Extract<ProviderType, "custom-token">, "custom-token">(true);
exact<App["currentUser"], User | null>(true);
exact<ReturnType<App["emailPasswordAuth"]["registerUser"]>, Promise<void>>(true);
type Auth = App["emailPasswordAuth"];
exact<Parameters<Auth["confirmUser"]>, [details: { token: string; tokenId: string }]>(true);
exact<Parameters<Auth["resendConfirmationEmail"]>, [details: { email: string }]>(true);
exact<Parameters<Auth["retryCustomConfirmation"]>, [details: { email: string }]>(true);
exact<Parameters<Auth["sendResetPasswordEmail"]>, [details: { email: string }]>(true);
exact<Parameters<Auth["resetPassword"]>, [details: { token: string; tokenId: string; password: string }]>(true);
exact<Parameters<Auth["callResetPasswordFunction"]>[0], { email: string; password: string }>(true);
for (const method of [
  "confirmUser",
  "resendConfirmationEmail",
  "retryCustomConfirmation",
  "sendResetPasswordEmail",
  "resetPassword",
  "callResetPasswordFunction",
] as const) {
  exact<ReturnType<Auth[typeof method]>, Promise<void>>(true);
}
exact<ReturnType<User["logOut"]>, Promise<void>>(true);
exact<ReturnType<typeof Credentials.apiKey>, Credentials>(true);
exact<AppError["statusCode"], number>(true);
exact<AppError["errorCode"], string | undefined>(true);
exact<AppError["method"], string>(true);
exact<AppError["url"], string>(true);
exact<AppError["error"], string | undefined>(true);
exact<AppError["link"], string | undefined>(true);
exact<AppError["statusText"], string>(true);
exact<typeof Realm.App, typeof App>(true);

// AppError is an Error subclass usable in catch clauses
export async function narrow(app: App): Promise<string> {
  try {
    await app.logIn(Credentials.apiKey("x"));
    return "ok";
  } catch (e) {
    if (e instanceof AppError) {
      const code: string | undefined = e.errorCode;
      const err: Error = e;
      return `${e.statusCode} ${code} ${err.message}`;
    }
    throw e;
  }
}

export async function misuse(app: App): Promise<void> {
  // @ts-expect-error a key name is a string
  await keys.create(42);
  // @ts-expect-error fetch needs an id
  await keys.fetch();
  // an expiry is a Date or milliseconds, not a string
  await keys.create("a", { expiresAt: new Date(Date.now() + 60_000) });
  await keys.create("b", { expiresAt: Date.now() + 60_000 });
  // @ts-expect-error expiresAt is not a string
  await keys.create("c", { expiresAt: "2030-01-01" });
  // @ts-expect-error enable resolves to void, not a key
  const k: ApiKey = await keys.enable("5eb5931548d79bc784adf46e");
  // @ts-expect-error Credentials cannot be constructed directly
  new Credentials();
  // @ts-expect-error currentUser is read-only
  app.currentUser = null;
  // @ts-expect-error no such method
  await keys.rename("a", "b");
  // @ts-expect-error a JWT is a string
  Credentials.jwt({ token: "x" });
  // @ts-expect-error google takes one of its payload objects, not a token string
  Credentials.google("eyJ...");
  // @ts-expect-error an Apple ID token is a string
  Credentials.apple({ id_token: "x" });
  // @ts-expect-error removeIdentity takes one of user.identities, not an id
  await user.removeIdentity("idp|x");
  // @ts-expect-error linkCredentials takes Credentials, not a token
  await user.linkCredentials("eyJ...");
  void k;
}

// the package's own README style: config object
export const configured = new App({ id: "appkeys-demo", baseUrl: "http://127.0.0.1:9090" });
