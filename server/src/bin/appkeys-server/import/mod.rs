//! `appkeys-server users import FILE --app ID`: App Services users, with their ids, from the Admin API user
//! list (a JSON array, several arrays one after another, or one user per line) or from Flowerbase's
//! `users-exporter` file. The whole file is read and checked first — a malformed file imports nothing and
//! names the record at fault; then the plan is compared with the database (same id and data: unchanged;
//! an id or email taken with other data: a conflict, reported, never overwritten) and the new users are
//! written in one transaction. Anonymous and `server` users are not imported and `api-key` identities are
//! dropped (key secrets cannot be exported); identities of other providers are kept on their user.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::Path;

use appkeys_protocol::is_object_id;
use appkeys_server::db::import::{ExistingUser, ImportedUser};
use appkeys_server::model::email;
use appkeys_server::Store;
use serde_json::Value;

use crate::cli::ImportFormat;

mod records;

use crate::words::count;
use records::{kind, records, say, Progress, Record};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

/// What `import` was asked to do.
pub(crate) struct ImportArgs<'a> {
    pub(crate) file: &'a Path,
    pub(crate) app: &'a str,
    pub(crate) format: ImportFormat,
    pub(crate) dry_run: bool,
    pub(crate) send_reset_emails: bool,
    pub(crate) resend: bool,
    /// The custom data export and the field naming each document's user.
    pub(crate) custom_data: Option<(&'a Path, &'a str)>,
}

/// The custom data documents of an export: `(user id, compact JSON object without `_id`)`, every record
/// checked first (a bad one names its record and line, and nothing is written).
fn custom_data_documents(file: &Path, id_field: &str) -> Result<Vec<(String, String)>> {
    say(&format!("reading {}", file.display()));
    let mut progress = Progress::new(("custom data document read", "custom data documents read"));
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let mut documents = Vec::new();
    let records = records(&text, &mut progress).map_err(|e| format!("{}: {e}", file.display()))?;
    progress.clear();
    for record in records {
        let Value::Object(mut doc) = record.value else {
            return Err(format!("{}: {}: not a document", file.display(), record.at).into());
        };
        let user_id = match doc.get(id_field) {
            Some(Value::String(id)) => Some(id.clone()),
            Some(Value::Object(o)) => o.get("$oid").and_then(Value::as_str).map(str::to_owned),
            _ => None,
        };
        let Some(user_id) = user_id else {
            return Err(format!(
                "{}: {}: no user id in `{id_field}` (name the field with --custom-data-id-field)",
                file.display(),
                record.at
            )
            .into());
        };
        doc.remove("_id");
        let data = appkeys_server::service::custom_data::from_value(&Value::Object(doc))
            .map_err(|e| format!("{}: {}: {e}", file.display(), record.at))?;
        documents.push((user_id, data));
    }
    Ok(documents)
}

/// Imports the custom data `documents` (after the users) for the users of the app — those the database had
/// (`existing`, as import read them) and those this import adds (`new`): reports what was kept and what had
/// no user.
async fn import_custom_data(
    store: &Store,
    args: &ImportArgs<'_>,
    documents: Vec<(String, String)>,
    (existing, new): (&[ExistingUser], &[ImportedUser]),
    out: &mut impl Write,
) -> Result {
    let app_users: HashSet<&str> = existing
        .iter()
        .filter(|u| u.app_id == args.app)
        .map(|u| u.id.as_str())
        .chain(new.iter().map(|u| u.id.as_str()))
        .collect();
    let (kept, orphans): (Vec<_>, Vec<_>) = documents
        .into_iter()
        .partition(|(id, _)| app_users.contains(id.as_str()));
    if !args.dry_run {
        store.import_custom_data(&kept).await?;
    }
    let verb = if args.dry_run { "would set" } else { "set" };
    writeln!(
        out,
        "custom data: {verb} for {}; {} no user of app {} (not kept)",
        count(kept.len() as u64, "user", "users"),
        count(orphans.len() as u64, "document names", "documents name"),
        args.app
    )?;
    Ok(())
}

/// What a record becomes.
enum Planned {
    User(ImportedUser),
    Anonymous(String),
    Server(String),
}

/// One identity of a record: provider type, id, and the email of its `provider_data`, if any.
struct Identity {
    kind: String,
    id: String,
    email: Option<String>,
}

/// The record's `identities` (a missing or null list is none); an error names the identity at fault.
fn identities(list: Option<&Value>) -> std::result::Result<Vec<Identity>, String> {
    let list = match list {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(other) => return Err(format!("`identities` is {}, not an array", kind(other))),
    };
    list.iter()
        .enumerate()
        .map(|(n, i)| {
            let text = |field: &str| i.get(field).and_then(Value::as_str).map(str::to_owned);
            match (text("provider_type"), text("id")) {
                (Some(kind), Some(id)) => Ok(Identity {
                    kind,
                    id,
                    email: i
                        .pointer("/provider_data/email")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                }),
                _ => Err(format!(
                    "`identities[{n}]` has no string `id` and `provider_type`"
                )),
            }
        })
        .collect()
}

/// The record's email and the field it came from (or, without one, the fields looked at): Flowerbase's
/// `email`; the Admin API's `data.email`, else the `provider_data.email` of its local-userpass identity.
fn email_of(
    obj: &serde_json::Map<String, Value>,
    format: ImportFormat,
    identities: &[Identity],
) -> (String, Option<String>) {
    if format == ImportFormat::Flowerbase {
        let email = obj.get("email").and_then(Value::as_str).map(str::to_owned);
        return ("`email`".to_owned(), email);
    }
    if let Some(e) = obj
        .get("data")
        .and_then(|d| d.get("email"))
        .and_then(Value::as_str)
    {
        return ("`data.email`".to_owned(), Some(e.to_owned()));
    }
    let userpass = identities.iter().position(|i| i.kind == "local-userpass");
    match userpass.map(|n| (n, &identities[n])) {
        Some((n, Identity { email: Some(e), .. })) => (
            format!("`identities[{n}].provider_data.email`"),
            Some(e.clone()),
        ),
        Some((n, _)) => (
            format!("`data.email` or `identities[{n}].provider_data.email`"),
            None,
        ),
        None => ("`data.email`".to_owned(), None),
    }
}

/// A record as an App Services user: `(user, dropped api-key identities)`.
fn parse(record: &Record, format: ImportFormat) -> Result<(Planned, usize)> {
    let bad =
        |why: String| -> Box<dyn std::error::Error> { format!("{}: {why}", record.at).into() };
    let obj = record.value.as_object().ok_or_else(|| {
        bad(format!(
            "expected a user object, found {}",
            kind(&record.value)
        ))
    })?;
    // Flowerbase writes `_id: {"$oid": …}` and a top-level email; the Admin API `_id: "…"` and `data.email`.
    let flowerbase = obj.get("_id").is_some_and(Value::is_object) || obj.contains_key("password");
    let format = match format {
        ImportFormat::Auto if flowerbase => ImportFormat::Flowerbase,
        ImportFormat::Auto => ImportFormat::AdminApi,
        given => given,
    };
    let id = match (format, obj.get("_id")) {
        (ImportFormat::Flowerbase, Some(Value::Object(o))) => o.get("$oid").and_then(Value::as_str),
        (_, Some(Value::String(s))) => Some(s.as_str()),
        _ => None,
    }
    .ok_or_else(|| bad("no `_id` (24 hex characters) of the expected form".to_owned()))?;
    if !is_object_id(id) {
        return Err(bad(format!("`_id` {id:?} is not 24 hex characters")));
    }
    let id = id.to_ascii_lowercase();
    let identities = identities(obj.get("identities")).map_err(bad)?;
    if obj.get("type").and_then(Value::as_str) == Some("server") {
        return Ok((Planned::Server(id), 0));
    }
    let (field, email) = email_of(obj, format, &identities);
    let email = email.map(|e| e.trim().to_lowercase());
    if let Some(e) = &email {
        email::check(e).map_err(|err| bad(format!("{field} {e:?}: {}", err.message)))?;
    }
    let identities: Vec<(String, String)> =
        identities.into_iter().map(|i| (i.kind, i.id)).collect();
    let has = |p: &str| identities.iter().any(|(t, _)| t == p);
    let dropped = identities.iter().filter(|(t, _)| t == "api-key").count();
    let others: Vec<(String, String)> = identities
        .iter()
        .filter(|(t, _)| !matches!(t.as_str(), "local-userpass" | "anon-user" | "api-key"))
        .cloned()
        .collect();
    let userpass = email.is_some() || has("local-userpass");
    if !userpass && others.is_empty() {
        if has("anon-user") || identities.is_empty() {
            return Ok((Planned::Anonymous(id), dropped));
        }
        // Only api-key identities: a server-style user without keys that could come along.
        return Ok((Planned::Server(id), dropped));
    }
    if userpass && email.is_none() {
        return Err(bad(format!(
            "a local-userpass identity but no email (looked for {field})"
        )));
    }
    let provider = if userpass {
        "local-userpass".to_owned()
    } else {
        others[0].0.clone()
    };
    // The email/password identity keeps its App Services id (a new one if it had none of the usual form).
    let mut kept = others;
    if userpass {
        let identity_id = identities
            .iter()
            .find(|(t, _)| t == "local-userpass")
            .map(|(_, i)| i.as_str())
            .filter(|i| is_object_id(i))
            .map_or_else(appkeys_server::util::new_id, str::to_ascii_lowercase);
        kept.insert(0, ("local-userpass".to_owned(), identity_id));
    }
    let seconds = obj
        .get("creation_date")
        .and_then(Value::as_i64)
        .unwrap_or_else(|| i64::from_str_radix(&id[..8], 16).unwrap_or(0));
    let disabled = match obj.get("disabled") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => return Err(bad(format!("`disabled` is {}, not a boolean", kind(other)))),
    };
    Ok((
        Planned::User(ImportedUser {
            id,
            provider,
            email,
            created_at: seconds.saturating_mul(1000),
            disabled,
            identities: kept,
        }),
        dropped,
    ))
}

/// How an existing row differs from an imported user with its id: `field (database: …, file: …)` for each
/// field that is not the same (none: the same user, already imported).
fn differences(existing: &ExistingUser, u: &ImportedUser, app: &str) -> Vec<String> {
    let time = |ms: i64| appkeys_server::util::rfc3339(ms);
    let email = |e: &Option<String>| e.clone().unwrap_or_else(|| "none".to_owned());
    [
        ("app", existing.app_id.clone(), app.to_owned()),
        ("email", email(&existing.email), email(&u.email)),
        ("provider", existing.provider.clone(), u.provider.clone()),
        (
            "creation time",
            time(existing.created_at),
            time(u.created_at),
        ),
        (
            "disabled",
            existing.disabled.to_string(),
            u.disabled.to_string(),
        ),
    ]
    .into_iter()
    .filter(|(_, database, file)| database != file)
    .map(|(field, database, file)| format!("{field} (database: {database}, file: {file})"))
    .collect()
}

/// The users, anonymous and server ids and dropped identities of a checked file.
struct Plan {
    users: Vec<ImportedUser>,
    anonymous: Vec<String>,
    servers: Vec<String>,
    dropped: usize,
}

/// Reads and checks the whole file: any malformed record, duplicate id or duplicate email is an error.
fn plan(args: &ImportArgs<'_>) -> Result<Plan> {
    let file = args.file.display();
    say(&format!("reading {file}"));
    let mut progress = Progress::new(("record read", "records read"));
    let text = std::fs::read_to_string(args.file).map_err(|e| format!("{file}: {e}"))?;
    let records = records(&text, &mut progress).map_err(|e| format!("{file}: {e}"))?;
    progress.clear();
    let mut plan = Plan {
        users: Vec::new(),
        anonymous: Vec::new(),
        servers: Vec::new(),
        dropped: 0,
    };
    let (mut ids, mut emails) = (HashSet::new(), HashMap::new());
    for record in &records {
        let (planned, d) = parse(record, args.format).map_err(|e| format!("{file}: {e}"))?;
        plan.dropped += d;
        let id = match &planned {
            Planned::User(u) => &u.id,
            Planned::Anonymous(id) | Planned::Server(id) => id,
        };
        if !ids.insert(id.clone()) {
            return Err(format!("{file}: {}: duplicate `_id` {id}", record.at).into());
        }
        match planned {
            Planned::User(u) => {
                if let Some(e) = &u.email {
                    if let Some(first) = emails.insert(e.clone(), record.at.clone()) {
                        return Err(format!(
                            "{file}: {}: duplicate email {e} (also {first})",
                            record.at
                        )
                        .into());
                    }
                }
                plan.users.push(u);
            }
            Planned::Anonymous(id) => plan.anonymous.push(id),
            Planned::Server(id) => plan.servers.push(id),
        }
    }
    Ok(plan)
}

/// The first identity of `u` that another user holds: `(provider type, identity id, holder)`.
fn held_identity<'a>(
    u: &'a ImportedUser,
    held: &'a HashMap<(String, String), String>,
) -> Option<(&'a str, &'a str, &'a str)> {
    u.identities.iter().find_map(|(kind, id)| {
        let holder = held.get(&(kind.clone(), id.clone()))?;
        (holder != &u.id).then_some((kind.as_str(), id.as_str(), holder.as_str()))
    })
}

/// Reads, checks, compares and (unless `--dry-run`) imports; prints the report. Exit 1 when a record
/// conflicts with the database (the others are imported).
pub(crate) async fn import(store: &Store, args: ImportArgs<'_>, out: &mut impl Write) -> Result {
    let Plan {
        users,
        anonymous,
        servers,
        dropped,
    } = plan(&args)?;
    // The custom data file is checked before anything is written.
    let custom_data = args
        .custom_data
        .map(|(file, id_field)| custom_data_documents(file, id_field))
        .transpose()?;
    let existing = store.existing_users().await?;
    let by_id: HashMap<&str, &ExistingUser> = existing.iter().map(|e| (e.id.as_str(), e)).collect();
    let by_email: HashMap<(&str, &str), &ExistingUser> = existing
        .iter()
        .filter_map(|e| Some(((e.app_id.as_str(), e.email.as_deref()?), e)))
        .collect();
    let held = store.existing_identities(args.app).await?;
    let (mut new, mut unchanged, mut conflicts) = (Vec::new(), Vec::new(), Vec::new());
    for u in users {
        let taken_email = u
            .email
            .as_deref()
            .and_then(|e| by_email.get(&(args.app, e)));
        match (by_id.get(u.id.as_str()), taken_email) {
            (Some(e), _) => match differences(e, &u, args.app).join(", ") {
                same if same.is_empty() => unchanged.push(u),
                differs => conflicts.push(format!(
                    "{}: the id exists with other data: {differs}",
                    u.id
                )),
            },
            (None, Some(e)) => conflicts.push(format!(
                "{}: {} belongs to user {}",
                u.id,
                u.email.as_deref().unwrap_or_default(),
                e.id
            )),
            (None, None) => match held_identity(&u, &held) {
                // An identity that a user created by login (or another import) already holds: the
                // record would lose it silently.
                Some((kind, id, holder)) => conflicts.push(format!(
                    "{}: the {kind} identity {id} belongs to user {holder}",
                    u.id
                )),
                None => new.push(u),
            },
        }
    }
    if !args.dry_run && !new.is_empty() {
        let users = count(new.len() as u64, "user", "users");
        say(&format!("writing {users} in one transaction"));
        store.import_users(args.app, &new).await?;
    }
    report_users(
        &args,
        &new,
        unchanged.len(),
        (&anonymous, &servers),
        dropped,
        out,
    )?;
    if args.send_reset_emails {
        queue_resets(store, &args, (&new, &unchanged), out).await?;
    }
    if let Some(documents) = custom_data {
        import_custom_data(store, &args, documents, (&existing, &new), out).await?;
    }
    if !conflicts.is_empty() {
        writeln!(out, "conflicts: {} (not changed)", conflicts.len())?;
        for c in &conflicts {
            writeln!(out, "  {c}")?;
        }
        let records = count(
            conflicts.len() as u64,
            "record conflicts",
            "records conflict",
        );
        return Err(format!("{records} with the database (see above)").into());
    }
    Ok(())
}

/// The report's lines on the users: imported (or would be), unchanged, not imported, identities dropped.
fn report_users(
    args: &ImportArgs<'_>,
    new: &[ImportedUser],
    unchanged: usize,
    (anonymous, servers): (&[String], &[String]),
    dropped: usize,
    out: &mut impl Write,
) -> Result {
    let verb = if args.dry_run {
        "would import"
    } else {
        "imported"
    };
    let userpass = new.iter().filter(|u| u.email.is_some()).count();
    writeln!(
        out,
        "{verb} {} into app {} ({userpass} email/password: their first login fails like a wrong password \
         until they reset it; {} of other providers)",
        count(new.len() as u64, "user", "users"),
        args.app,
        new.len() - userpass
    )?;
    writeln!(
        out,
        "unchanged: {unchanged} (already imported with the same data)"
    )?;
    writeln!(
        out,
        "not imported: {}, {}",
        count(anonymous.len() as u64, "anonymous user", "anonymous users"),
        count(servers.len() as u64, "server user", "server users")
    )?;
    for (kind, id) in anonymous
        .iter()
        .map(|i| ("anonymous", i))
        .chain(servers.iter().map(|i| ("server", i)))
    {
        writeln!(out, "  {kind} {id}")?;
    }
    let identities = count(dropped as u64, "api-key identity", "api-key identities");
    writeln!(
        out,
        "dropped: {identities} (key secrets cannot be exported: create new keys)"
    )?;
    Ok(())
}

/// `--send-reset-emails`: queues a reset email for each email/password user of the file now in the database
/// and says how many were queued and, by reason, how many were not.
async fn queue_resets(
    store: &Store,
    args: &ImportArgs<'_>,
    (new, unchanged): (&[ImportedUser], &[ImportedUser]),
    out: &mut impl Write,
) -> Result {
    let userpass: Vec<&ImportedUser> = new
        .iter()
        .chain(unchanged)
        .filter(|u| u.email.is_some())
        .collect();
    let targets: Vec<String> = userpass
        .iter()
        .filter(|u| !u.disabled)
        .map(|u| u.id.clone())
        .collect();
    let disabled = userpass.len() - targets.len();
    let queued = if args.dry_run {
        targets.len()
    } else {
        usize::try_from(store.queue_resets(&targets, args.resend).await?).unwrap_or(usize::MAX)
    };
    let already = targets.len().saturating_sub(queued);
    writeln!(
        out,
        "reset emails {}: {queued} (servers with email configured send them at \
         --import-reset-emails-per-minute; never twice unless --resend)",
        if args.dry_run { "to queue" } else { "queued" }
    )?;
    if disabled > 0 {
        let users = count(disabled as u64, "user is disabled", "users are disabled");
        writeln!(out, "  not queued: {users} (no login until enabled: `users enable ID`, then import again with --send-reset-emails)")?;
    }
    if already > 0 {
        let users = count(already as u64, "user was", "users were");
        writeln!(
            out,
            "  not queued: {users} sent one before (--resend sends again)"
        )?;
    }
    Ok(())
}
