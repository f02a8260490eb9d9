// Deliberately wrong uses of the package (see ../../typescript.test.mjs): must NOT type-check.
import type { App } from "appkeys";

export async function broken(app: App): Promise<void> {
  await app.currentUser.apiKeys.create(42); // TS2345: number is not a string
  await app.currentUser.apiKeys.rename("x"); // TS2339: no such method
}
