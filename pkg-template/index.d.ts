// Types of the `appkeys` package: realm-web 2.0.1's App / Credentials / User / user.apiKeys surface.
// (The same declarations serve `require`, `import` and the browser entry.)

/** Persists users across `App` instances. Keys and values are strings; calls are synchronous. */
export interface Storage {
  get(key: string): string | null | undefined;
  set(key: string, value: string): void;
  remove(key: string): void;
}

export interface AppConfiguration {
  /** The app id. */
  id: string;
  /** Server base URL. Default: `http://127.0.0.1:9090`. */
  baseUrl?: string;
  /**
   * Where users (tokens, profile) persist. Default: `localStorage` in browsers (namespaced by app id),
   * memory in Node and in workers. API keys are never persisted.
   */
  storage?: Storage;
  /** Use `baseUrl` directly instead of asking `GET …/location` for the hostname first. */
  skipLocationRequest?: boolean;
}

export type UserState = "active" | "logged-out" | "removed";
export type ProviderType = "local-userpass" | "anon-user" | "api-key";

/** A user API key as returned by `fetch()` / `fetchAll()` (the secret `key` only comes from `create()`). */
export interface ApiKey {
  _id: string;
  name: string;
  disabled: boolean;
  key?: string;
  /** Extra fields the server sends are passed through. */
  [field: string]: unknown;
}

/** A newly created user API key, including its secret. */
export interface NewApiKey extends ApiKey {
  key: string;
}

export interface UserProfile {
  email?: string;
  [field: string]: unknown;
}

/** Loads the WebAssembly module. Needed once in browsers (idempotent); a resolved no-op in Node. */
export declare function init(input?: unknown): Promise<void>;

export declare class Credentials {
  private constructor();
  static emailPassword(email: string, password: string): Credentials;
  static anonymous(): Credentials;
  static apiKey(key: string): Credentials;
  readonly providerType: ProviderType;
  readonly payload: Record<string, unknown>;
}

/** `user.apiKeys` (also available as `user.apiKey`). */
export interface ApiKeyAuth {
  create(name: string): Promise<NewApiKey>;
  fetch(keyId: string): Promise<ApiKey>;
  fetchAll(): Promise<ApiKey[]>;
  enable(keyId: string): Promise<void>;
  disable(keyId: string): Promise<void>;
  delete(keyId: string): Promise<void>;
}

export interface EmailPasswordAuth {
  registerUser(details: { email: string; password: string }): Promise<void>;
}

export declare class User {
  private constructor();
  readonly id: string;
  readonly accessToken: string | null;
  readonly refreshToken: string | null;
  readonly profile: UserProfile;
  readonly providerType: ProviderType;
  readonly deviceId: string | null;
  readonly state: UserState;
  readonly isLoggedIn: boolean;
  readonly apiKeys: ApiKeyAuth;
  readonly apiKey: ApiKeyAuth;
  logOut(): Promise<void>;
  refreshAccessToken(): Promise<void>;
  refreshProfile(): Promise<void>;
}

export declare class App {
  constructor(idOrConfiguration: string | AppConfiguration);
  readonly id: string;

  readonly currentUser: User | null;
  readonly allUsers: Readonly<Record<string, User>>;
  readonly emailPasswordAuth: EmailPasswordAuth;
  logIn(credentials: Credentials): Promise<User>;
  switchUser(user: User): void;
  removeUser(user: User): Promise<void>;
  deleteUser(user: User): Promise<void>;
}

/** A failed request (realm-web's `MongoDBRealmError`). */
export declare class AppError extends Error {
  constructor(
    method: string,
    url: string,
    statusCode: number,
    statusText: string,
    error?: string,
    errorCode?: string,
    link?: string,
  );
  name: "AppError";
  readonly method: string;
  readonly url: string;
  readonly statusCode: number;
  readonly statusText: string;
  readonly error: string | undefined;
  readonly errorCode: string | undefined;
  readonly link: string | undefined;
}

export declare namespace Auth {
  type ApiKey = ApiKeyT;
  type NewApiKey = NewApiKeyT;
  type ApiKeyAuth = ApiKeyAuthT;
  type EmailPasswordAuth = EmailPasswordAuthT;
}

/** realm-web-style names: `Realm.User`, `Realm.Auth.ApiKey`, `Realm.App`, `Realm.Credentials`. */
export declare const Realm: {
  App: typeof App;
  Credentials: typeof Credentials;
  User: typeof User;
  AppError: typeof AppError;
};
export declare namespace Realm {
  type App = AppT;
  type User = UserT;
  type Credentials = CredentialsT;
  type AppError = AppErrorT;
  namespace Auth {
    type ApiKey = ApiKeyT;
    type NewApiKey = NewApiKeyT;
    type ApiKeyAuth = ApiKeyAuthT;
    type EmailPasswordAuth = EmailPasswordAuthT;
  }
}

type AppT = App;
type UserT = User;
type CredentialsT = Credentials;
type AppErrorT = AppError;
type ApiKeyT = ApiKey;
type NewApiKeyT = NewApiKey;
type ApiKeyAuthT = ApiKeyAuth;
type EmailPasswordAuthT = EmailPasswordAuth;
