//! The command line: the flags of serving and the admin subcommands (clap derive types only; what they
//! do is in `run.rs` and `admin.rs`).

use std::path::PathBuf;

use clap::Parser;

pub(crate) use crate::serve_flags::{LogFormat, ServeArgs};

/// Self-hostable App Services-compatible auth server with user API keys.
///
/// Speaks the App Services client wire protocol (`/api/client/v2.0/...`) for the providers
/// local-userpass, anon-user, api-key, custom-token (custom JWT), oauth2-google, oauth2-apple,
/// oauth2-facebook and custom-function, with account linking. Every
/// flag has an environment twin. Logs go to stderr (filter with RUST_LOG, e.g. RUST_LOG=debug);
/// stdout gets exactly one line
/// `listening on http://HOST:PORT`. Without a subcommand (or with `serve`) it serves; the other
/// subcommands administer a database, also while servers are serving it.
#[derive(Debug, Parser)]
#[command(
    name = "appkeys-server",
    version,
    about,
    long_about,
    args_conflicts_with_subcommands = true
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Option<Command>,

    #[command(flatten)]
    pub(crate) serve: ServeArgs,
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Serve (the same as no subcommand).
    Serve(Box<ServeArgs>),
    /// Users: list, show, disable (no login by any provider, sessions end), enable, confirm, import (from App
    /// Services), custom-data, delete.
    Users {
        #[command(flatten)]
        db: DbArgs,
        #[command(subcommand)]
        action: UsersAction,
    },
    /// API keys: list a user's keys or the server keys, create a server key, disable, enable, revoke.
    Keys {
        #[command(flatten)]
        db: DbArgs,
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Sessions: end every session of a user.
    Sessions {
        #[command(flatten)]
        db: DbArgs,
        #[command(subcommand)]
        action: SessionsAction,
    },
    /// Prints the audit log, newest last; `--json`: one JSON object per line with `time`, `event`,
    /// `app`, `user_id`, `key_id`, `provider`, `ip`, `user_agent`, `outcome`.
    Audit {
        #[command(flatten)]
        db: DbArgs,
        /// Only events of this user.
        #[arg(long)]
        user: Option<String>,
        /// Only events of this key.
        #[arg(long)]
        key: Option<String>,
        /// Only events at or after this time (RFC 3339, e.g. 2026-12-01T00:00:00Z).
        #[arg(long)]
        since: Option<String>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// The webhook outbox: list events (pending, delivered, failed), retry failed ones, purge old ones.
    Webhooks {
        #[command(flatten)]
        db: DbArgs,
        #[command(subcommand)]
        action: WebhooksAction,
    },
    /// Writes a consistent snapshot of a SQLite database to FILE (mode 0600) while servers run
    /// (`VACUUM INTO`). For PostgreSQL use pg_dump.
    Backup {
        #[command(flatten)]
        db: DbArgs,
        /// The new backup file (must not exist).
        file: PathBuf,
    },
    /// Config files: `from-app-services DIR` writes one from an exported App Services app.
    #[command(subcommand)]
    Config(ConfigAction),
    /// Access-token signing keys: `generate FILE` writes a new P-256 key (PKCS#8 PEM, mode 0600).
    SigningKey {
        #[command(subcommand)]
        action: SigningKeyAction,
    },
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum ConfigAction {
    /// Reads an exported App Services app (DIR: auth/providers.json, auth/custom_user_data.json, triggers/,
    /// values/) and writes a config file for `--config` with every provider appkeys serves and the webhooks
    /// that replace its authentication triggers; prints what carried over, what to fill in and what did not.
    FromAppServices {
        /// The exported app's folder.
        dir: PathBuf,
        /// The config file to write (secret files go to `appkeys-secrets/` beside it).
        #[arg(long, value_name = "FILE", default_value = "appkeys.toml")]
        out: PathBuf,
        /// A JSON object of secret names and values (App Services exports names only).
        #[arg(long, value_name = "FILE")]
        secrets: Option<PathBuf>,
        /// The app id [default: the export's app_id].
        #[arg(long, value_name = "ID")]
        app: Option<String>,
        /// Replace an existing config file.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum WebhooksAction {
    /// The newest events: id (the `webhook-id`), type, state, attempts, written at, last error.
    List {
        /// Only events in this state.
        #[arg(long, value_parser = ["pending", "delivered", "failed"])]
        state: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Makes a failed event (ID) or every failed event (--all-failed) due again, with a new retry period;
    /// the servers deliver it with the same `webhook-id`.
    Retry {
        /// The event's id.
        #[arg(required_unless_present = "all_failed", conflicts_with = "all_failed")]
        id: Option<String>,
        /// Every failed event.
        #[arg(long)]
        all_failed: bool,
    },
    /// Deletes delivered events older than --older-than-days (the servers keep them 7 days), and failed
    /// ones too with --failed.
    Purge {
        /// Age in days.
        #[arg(long, value_name = "DAYS", default_value_t = 0)]
        older_than_days: u32,
        /// Also failed events (they are never retried again).
        #[arg(long)]
        failed: bool,
    },
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum SigningKeyAction {
    /// Writes a new P-256 private key to FILE (which must not exist), mode 0600. To rotate, append its
    /// PEM block to the --signing-key-file after the current key (published, not signing), move it
    /// first once verifiers' caches have refreshed, remove the old key after its last token expired.
    Generate {
        /// The new key file.
        file: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
pub(crate) struct DbArgs {
    /// Database: sqlite://PATH or postgres://… (as for serving). May stand before or after the
    /// action (`keys --database-url URL revoke ID` or `keys revoke --database-url URL ID`). The database
    /// must exist (a server's first start makes it); only `users import --create` makes one.
    #[arg(
        long,
        global = true,
        env = "APPKEYS_DATABASE_URL",
        hide_env_values = true,
        default_value = "sqlite://./appkeys-data/appkeys.db"
    )]
    pub(crate) database_url: String,
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum UsersAction {
    /// Every user: id, app, provider, email, state, creation time.
    List,
    /// One user, with its keys and session count.
    Show { id: String },
    /// Disables a user: no login by any provider; its sessions end.
    Disable { id: String },
    /// Enables a disabled user.
    Enable { id: String },
    /// Confirms an account that registered while --email-confirmation was on.
    Confirm { id: String },
    /// Imports App Services users (with their ids) from FILE: the Admin API user list (a JSON array,
    /// pages one after another, or one user per line) or Flowerbase's users-exporter output.
    /// Email/password users come without a password (their first login fails like a wrong one until
    /// they reset it); anonymous and server users are not imported, api-key identities are dropped.
    /// Re-running the same file changes nothing; conflicts are reported (exit 1), never overwritten; a
    /// malformed file imports nothing.
    Import {
        /// The export file.
        file: PathBuf,
        /// The app id the users belong to.
        #[arg(long = "app", value_name = "ID")]
        app: String,
        /// The file's format [default: detected per record].
        #[arg(long, value_enum, default_value = "auto")]
        format: ImportFormat,
        /// Print what would happen; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Create the database (and its tables) when it does not exist yet, as a server's first start
        /// does. Without it a missing database is an error, so that a mistyped --database-url imports
        /// nothing into a new file.
        #[arg(long)]
        create: bool,
        /// Queue a reset email for every imported email/password user (sent by the servers at
        /// --import-reset-emails-per-minute, each once, resumable).
        #[arg(long)]
        send_reset_emails: bool,
        /// With --send-reset-emails: queue them again for users already sent one.
        #[arg(long, requires = "send_reset_emails")]
        resend: bool,
        /// The app's custom user data collection, as `mongoexport` writes it (one document per line, or
        /// a JSON array): each document becomes its user's custom data (without `_id`). Checked whole
        /// first, like the users file; documents of users not in the database are counted, not kept.
        #[arg(long, value_name = "FILE")]
        custom_data: Option<PathBuf>,
        /// The field of a custom data document that holds its user's id (App Services' "User ID Field").
        #[arg(
            long,
            value_name = "NAME",
            default_value = "user_id",
            requires = "custom_data"
        )]
        custom_data_id_field: String,
    },
    /// A user's custom data: the JSON object (at most 16 KB) its access tokens carry as `user_data`
    /// (realm's `user.customData`); the user's next token refresh carries a change.
    #[command(name = "custom-data", subcommand)]
    CustomData(CustomDataAction),
    /// Deletes a user with its keys and sessions; asks on a terminal, else needs --yes.
    Delete {
        id: String,
        /// Delete without asking.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum CustomDataAction {
    /// Prints the user's custom data (`{}` when it has none).
    Get { id: String },
    /// Replaces the user's custom data with JSON (an object; `-` reads it from standard input).
    Set { id: String, json: String },
    /// Removes the user's custom data.
    Clear { id: String },
}

/// The format of an import file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ImportFormat {
    /// Decide per record (`_id: {"$oid"}` or a `password` field: Flowerbase).
    Auto,
    /// The App Services Admin API user list.
    AdminApi,
    /// Flowerbase's users-exporter file.
    Flowerbase,
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum KeysAction {
    /// A user's keys (`--user ID`) or the server API keys (`--server`): id, name, state, creation, last
    /// use (server keys also their app and user).
    List {
        /// The user id.
        #[arg(long, required_unless_present = "server", conflicts_with = "server")]
        user: Option<String>,
        /// The server API keys instead (of every app, or of `--app`).
        #[arg(long)]
        server: bool,
        /// With `--server`: only this app's.
        #[arg(long = "app", value_name = "ID", requires = "server")]
        app: Option<String>,
    },
    /// Creates a server API key: a key for a backend service, owned by no person. Logging in with it
    /// (`Credentials.apiKey(key)`) opens a session of its own `server` user. Prints the secret once.
    Create {
        /// The key's name (unique among the app's server keys).
        #[arg(long = "server", value_name = "NAME")]
        name: String,
        /// The app id the key logs in to.
        #[arg(long = "app", value_name = "ID")]
        app: String,
        /// Days until the key expires (fractions allowed) [default: never].
        #[arg(long, value_name = "DAYS")]
        expires_in_days: Option<f64>,
    },
    /// Disables a key (user or server key): it no longer logs in, its sessions end.
    Disable { key_id: String },
    /// Enables a disabled key.
    Enable { key_id: String },
    /// Deletes a key and ends the sessions opened with it.
    Revoke { key_id: String },
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum SessionsAction {
    /// Ends every session of a user.
    Revoke {
        /// The user id.
        #[arg(long)]
        user: String,
    },
}
