// The error class of every failed request (realm-web's MongoDBRealmError, under a stable name).
// The SDK (Rust) constructs it with the fields of the error response; the message is built here.
export class AppError extends Error {
  constructor(method, url, statusCode, statusText, error, errorCode, link) {
    const summary = statusText ? `status ${statusCode} ${statusText}` : `status ${statusCode}`;
    super(`Request failed (${method} ${url}): ${typeof error === "string" ? error + " " : ""}(${summary})`);
    this.name = "AppError";
    this.method = method;
    this.url = url;
    this.statusCode = statusCode;
    this.statusText = statusText;
    this.error = error;
    this.errorCode = errorCode;
    this.link = link;
  }
}
