//! The admin subcommands: users, keys, sessions, audit, backup — straight on the store, also while
//! servers are serving it. Every change is written to the audit log as the server's own changes are,
//! with the agent `appkeys-server admin command`. A target that matches nothing is an error (exit 1).

use std::io::{BufRead, IsTerminal, Write};

use appkeys_server::crypto::apikey;
use appkeys_server::db::webhooks::WebhookEvents;
use appkeys_server::db::CreateKeyError;
use appkeys_server::model::audit::{Event, ADMIN_AGENT};
use appkeys_server::util::rfc3339;
use appkeys_server::{Store, StoreOptions};

use appkeys_server::crypto::secrets::write_new_private_file;
use appkeys_server::crypto::signing::{generate_pem, read_file, SigningKey};

use crate::cli::{
    Command, ConfigAction, CustomDataAction, KeysAction, SessionsAction, SigningKeyAction,
    UsersAction,
};
use crate::import::{import, ImportArgs};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Runs an admin command (anything but `serve`).
pub(crate) async fn admin(command: Command) -> Result {
    if let Command::SigningKey {
        action: SigningKeyAction::Generate { file },
    } = &command
    {
        if file.exists() || file.is_symlink() {
            return Err(format!("{} exists; choose a new file", file.display()).into());
        }
        write_new_private_file(file, generate_pem().as_bytes())?;
        let kid = read_file(file)
            .ok()
            .and_then(|pems| SigningKey::from_pem(&pems[0], "new").ok())
            .map(|k| k.kid)
            .unwrap_or_default();
        println!("wrote a new signing key to {} (kid {kid})", file.display());
        return Ok(());
    }
    if let Command::Config(ConfigAction::FromAppServices {
        dir,
        out,
        secrets,
        app,
        force,
    }) = &command
    {
        let request = crate::app_services::Request {
            dir,
            out,
            secrets: secrets.as_deref(),
            app: app.as_deref(),
            force: *force,
        };
        return crate::app_services::from_app_services(request, &mut std::io::stdout().lock());
    }
    let url = match &command {
        Command::Users { db, .. }
        | Command::Keys { db, .. }
        | Command::Sessions { db, .. }
        | Command::Backup { db, .. }
        | Command::Webhooks { db, .. }
        | Command::Audit { db, .. } => db.database_url.clone(),
        Command::Serve(_) | Command::SigningKey { .. } | Command::Config(_) => {
            unreachable!("not a database command")
        }
    };
    // Only `users import --create` makes a database; every other command needs one that exists.
    let create = matches!(
        &command,
        Command::Users {
            action: UsersAction::Import { create: true, .. },
            ..
        }
    );
    let options = StoreOptions {
        create,
        ..StoreOptions::default()
    };
    // Changes made here announce themselves like the servers' (which deliver the types they are set to).
    let store = Store::connect_with(&url, options)
        .await?
        .with_webhooks(WebhookEvents::AllChanges);
    let mut out = std::io::stdout().lock();
    let result = match command {
        Command::Users { action, .. } => users(&store, action, &mut out).await,
        Command::Keys { action, .. } => keys(&store, action, &mut out).await,
        Command::Sessions {
            action: SessionsAction::Revoke { user },
            ..
        } => {
            existing_user(&store, &user).await?;
            let n = store
                .delete_user_sessions(&user, &admin_event("session.revoked"))
                .await?;
            let sessions = crate::words::count(n, "session", "sessions");
            writeln!(out, "ended {sessions} of user {user}").map_err(Into::into)
        }
        Command::Webhooks { action, .. } => crate::outbox::webhooks(&store, action, &mut out).await,
        Command::Backup { file, .. } => {
            store.backup(&file).await?;
            writeln!(out, "backup written to {}", file.display()).map_err(Into::into)
        }
        Command::Audit {
            user,
            key,
            since,
            json,
            ..
        } => audit(&store, user, key, since, json, &mut out).await,
        Command::Serve(_) | Command::SigningKey { .. } | Command::Config(_) => Ok(()),
    };
    store.close().await;
    result
}

/// The audit event of an admin command.
fn admin_event(event: &'static str) -> Event {
    Event {
        user_agent: Some(ADMIN_AGENT.to_owned()),
        ..Event::new(event, "success")
    }
}

fn missing(what: &str, id: &str) -> Box<dyn std::error::Error> {
    format!("no {what} with id {id}").into()
}

/// Milliseconds since the epoch as RFC 3339 UTC (`2026-12-01T22:53:31.123Z`), or `-`.
fn time(ms: Option<i64>) -> String {
    ms.map_or_else(|| "-".to_owned(), rfc3339)
}

fn state(disabled: bool) -> &'static str {
    if disabled {
        "disabled"
    } else {
        "enabled"
    }
}

/// The user `id`, or the error that it does not exist.
async fn existing_user(store: &Store, id: &str) -> Result<appkeys_server::db::User> {
    store.user(id).await?.ok_or_else(|| missing("user", id))
}

async fn users(store: &Store, action: UsersAction, out: &mut impl Write) -> Result {
    match action {
        UsersAction::List => {
            writeln!(out, "id\tapp\tprovider\temail\tstate\tcreated")?;
            for u in store.list_users().await? {
                let email = u.email.as_deref().unwrap_or("-");
                writeln!(
                    out,
                    "{}\t{}\t{}\t{email}\t{}\t{}",
                    u.id,
                    u.app_id,
                    u.provider,
                    state(u.disabled),
                    time(Some(u.created_at))
                )?;
            }
        }
        UsersAction::Show { id } => show_user(store, &id, out).await?,
        UsersAction::Disable { id } => {
            if !store
                .set_user_disabled(&id, true, &admin_event("user.disabled"))
                .await?
            {
                return Err(missing("user", &id));
            }
            writeln!(out, "disabled user {id}; its sessions ended")?;
        }
        UsersAction::Enable { id } => {
            if !store
                .set_user_disabled(&id, false, &admin_event("user.enabled"))
                .await?
            {
                return Err(missing("user", &id));
            }
            writeln!(out, "enabled user {id}")?;
        }
        UsersAction::Confirm { id } => {
            if !store
                .set_user_confirmed(&id, &admin_event("user.confirmed"))
                .await?
            {
                return Err(missing("user", &id));
            }
            writeln!(out, "confirmed user {id}")?;
        }
        UsersAction::Import {
            file,
            app,
            format,
            dry_run,
            send_reset_emails,
            resend,
            custom_data,
            custom_data_id_field,
            create: _,
        } => {
            let args = ImportArgs {
                file: &file,
                app: &app,
                format,
                dry_run,
                send_reset_emails,
                resend,
                custom_data: custom_data
                    .as_deref()
                    .map(|f| (f, custom_data_id_field.as_str())),
            };
            import(store, args, out).await?;
        }
        UsersAction::CustomData(action) => custom_data(store, action, out).await?,
        UsersAction::Delete { id, yes } => {
            let user = existing_user(store, &id).await?;
            if !yes && !confirmed_on_terminal(store, &user).await? {
                return Err("not deleted".into());
            }
            if !store.delete_user(&id, &admin_event("user.deleted")).await? {
                return Err(missing("user", &id));
            }
            writeln!(out, "deleted user {id} with its keys and sessions")?;
        }
    }
    Ok(())
}

async fn custom_data(store: &Store, action: CustomDataAction, out: &mut impl Write) -> Result {
    let (id, data) = match action {
        CustomDataAction::Get { id } => {
            let data = store
                .custom_data(&id)
                .await?
                .ok_or_else(|| missing("user", &id))?;
            writeln!(out, "{}", data.as_deref().unwrap_or("{}"))?;
            return Ok(());
        }
        CustomDataAction::Set { id, json } => {
            let text = match json.as_str() {
                "-" => std::io::read_to_string(std::io::stdin())?,
                _ => json,
            };
            let data = appkeys_server::service::custom_data::from_json(text.as_bytes())
                .map_err(|e| e.to_string())?;
            (id, Some(data))
        }
        CustomDataAction::Clear { id } => (id, None),
    };
    let event = match data {
        Some(_) => admin_event("user.custom_data_set"),
        None => admin_event("user.custom_data_cleared"),
    };
    if !store.set_custom_data(&id, data.as_deref(), &event).await? {
        return Err(missing("user", &id));
    }
    match data {
        Some(_) => writeln!(out, "set the custom data of user {id}")?,
        None => writeln!(out, "cleared the custom data of user {id}")?,
    }
    Ok(())
}

async fn show_user(store: &Store, id: &str, out: &mut impl Write) -> Result {
    let u = existing_user(store, id).await?;
    let sessions = store.count_user_sessions(id).await?;
    writeln!(
        out,
        "id\t{}\napp\t{}\nprovider\t{}",
        u.id, u.app_id, u.provider
    )?;
    writeln!(out, "email\t{}", u.email.as_deref().unwrap_or("-"))?;
    writeln!(
        out,
        "state\t{}\nconfirmed\t{}\ncreated\t{}\nsessions\t{sessions}",
        state(u.disabled),
        if u.confirmed { "yes" } else { "no" },
        time(Some(u.created_at))
    )?;
    for k in store.list_keys(id).await? {
        writeln!(out, "key\t{}\t{}\t{}", k.id, k.name, state(k.disabled))?;
    }
    Ok(())
}

/// Asks on the terminal whether to delete `user`; without a terminal the answer is no (use --yes).
async fn confirmed_on_terminal(store: &Store, user: &appkeys_server::db::User) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Err(format!(
            "refusing to delete user {} without --yes (no terminal to ask on)",
            user.id
        )
        .into());
    }
    let keys = store.list_keys(&user.id).await?.len();
    let sessions = store.count_user_sessions(&user.id).await?;
    let mut err = std::io::stderr().lock();
    write!(
        err,
        "Delete user {} ({}) with its {} and {}? This cannot be undone. Type 'yes' to delete: ",
        user.id,
        user.email.as_deref().unwrap_or(&user.provider),
        crate::words::count(keys as u64, "API key", "API keys"),
        crate::words::count(sessions.max(0) as u64, "session", "sessions"),
    )?;
    err.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(answer.trim().eq_ignore_ascii_case("yes"))
}

async fn keys(store: &Store, action: KeysAction, out: &mut impl Write) -> Result {
    match action {
        KeysAction::List { user, server, app } => {
            if server {
                return list_server_keys(store, app.as_deref(), out).await;
            }
            let user = user.unwrap_or_default();
            existing_user(store, &user).await?;
            writeln!(out, "id\tname\tstate\tcreated\tlast_used")?;
            for k in store.list_keys(&user).await? {
                let (created, used) = (time(Some(k.created_at)), time(k.last_used_at));
                writeln!(
                    out,
                    "{}\t{}\t{}\t{created}\t{used}",
                    k.id,
                    k.name,
                    state(k.disabled)
                )?;
            }
        }
        KeysAction::Create {
            name,
            app,
            expires_in_days,
        } => create_server_key(store, &name, &app, expires_in_days, out).await?,
        KeysAction::Disable { key_id } => set_key_disabled(store, &key_id, true, out).await?,
        KeysAction::Enable { key_id } => set_key_disabled(store, &key_id, false, out).await?,
        KeysAction::Revoke { key_id } => {
            let owner = store
                .key_owner(&key_id)
                .await?
                .ok_or_else(|| missing("key", &key_id))?;
            store
                .delete_key(&owner, &key_id, &admin_event("key.deleted"))
                .await?;
            writeln!(
                out,
                "revoked key {key_id} of user {owner}; its sessions ended"
            )?;
        }
    }
    Ok(())
}

/// Disables or enables a key (a user's or a server key), audited as the administrator's.
async fn set_key_disabled(
    store: &Store,
    key_id: &str,
    disabled: bool,
    out: &mut impl Write,
) -> Result {
    let owner = store
        .key_owner(key_id)
        .await?
        .ok_or_else(|| missing("key", key_id))?;
    let event = admin_event(if disabled {
        "key.disabled"
    } else {
        "key.enabled"
    });
    store
        .set_key_disabled(&owner, key_id, disabled, &event)
        .await?;
    let what = if disabled {
        "disabled; its sessions ended"
    } else {
        "enabled"
    };
    writeln!(out, "key {key_id} of user {owner} {what}")?;
    Ok(())
}

async fn list_server_keys(store: &Store, app: Option<&str>, out: &mut impl Write) -> Result {
    writeln!(
        out,
        "id\tname\tapp\tuser\tstate\tcreated\tlast_used\texpires"
    )?;
    for s in store.list_server_keys(app).await? {
        let k = &s.key;
        writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            k.id,
            k.name,
            s.app_id,
            s.user_id,
            state(k.disabled),
            time(Some(k.created_at)),
            time(k.last_used_at),
            time(k.expires_at)
        )?;
    }
    Ok(())
}

/// `keys create --server NAME --app ID`: prints the secret once.
async fn create_server_key(
    store: &Store,
    name: &str,
    app: &str,
    expires_in_days: Option<f64>,
    out: &mut impl Write,
) -> Result {
    appkeys_protocol::validate_api_key_name(name).map_err(|e| e.to_string())?;
    let expires_at = expires_in_days.map(|days| {
        let ms = (days * 86_400_000.0).clamp(1.0, 1e15) as i64;
        appkeys_server::util::now_ms().saturating_add(ms)
    });
    let secret = apikey::generate();
    let created = store
        .create_server_key(
            app,
            name,
            &apikey::hash(&secret),
            &apikey::start(&secret),
            expires_at,
            &admin_event("key.created"),
        )
        .await
        .map_err(|e| match e {
            CreateKeyError::NameTaken => format!("app {app} already has a server key named {name}"),
            CreateKeyError::LimitReached => "key limit reached".to_owned(),
            CreateKeyError::Db(e) => e.to_string(),
        })?;
    writeln!(
        out,
        "created server key {} (\"{name}\") for app {app}, user {}; its secret — shown this once:\n{secret}",
        created.key.id, created.user_id
    )?;
    Ok(())
}

async fn audit(
    store: &Store,
    user: Option<String>,
    key: Option<String>,
    since: Option<String>,
    json: bool,
    out: &mut impl Write,
) -> Result {
    let since = since
        .map(|t| {
            humantime::parse_rfc3339_weak(&t)
                .map(|at| {
                    at.duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis() as i64)
                })
                .map_err(|e| {
                    format!("--since {t}: {e} (expected RFC 3339, e.g. 2026-12-01T00:00:00Z)")
                })
        })
        .transpose()?;
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
    for e in store
        .audit_entries(user.as_deref(), key.as_deref(), since)
        .await?
    {
        if json {
            writeln!(out, "{}", serde_json::to_string(&e)?)?;
        } else {
            writeln!(
                out,
                "{} {} {} app={} user={} key={} provider={} ip={} agent={:?} count={}",
                e.time,
                e.event,
                e.outcome,
                dash(&e.app),
                dash(&e.user_id),
                dash(&e.key_id),
                dash(&e.provider),
                dash(&e.ip),
                dash(&e.user_agent),
                e.count
            )?;
        }
    }
    Ok(())
}
