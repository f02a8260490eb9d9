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
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let mut documents = Vec::new();
    for record in records(&text).map_err(|e| format!("{}: {e}", file.display()))? {
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
        "custom data: {verb} for {} users; {} documents name no user of app {} (not kept)",
        kept.len(),
        orphans.len(),
        args.app
    )?;
    Ok(())
}

/// One record of the file and where it stands.
struct Record {
    /// `record N (line L)`.
    at: String,
    value: Value,
}

/// The records of a file: every top-level JSON value in turn — an array is a page of users, an object one
/// user (JSON lines, or pages concatenated).
fn records(text: &str) -> Result<Vec<Record>> {
    // Lines counted as the reading moves on (counting from the start each time would be quadratic).
    let (mut counted_to, mut line) = (0, 1);
    let mut line_of = |offset: usize| {
        let offset = offset.min(text.len());
        if offset >= counted_to {
            line += text[counted_to..offset].matches('\n').count();
            counted_to = offset;
        }
        line
    };
    let mut out = Vec::new();
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    loop {
        let start = stream.byte_offset();
        // The line where the next top-level value begins (after the white space before it).
        let begins = start + text[start..].len() - text[start..].trim_start().len();
        let line = line_of(begins);
        let value = match stream.next() {
            None => break,
            Some(Ok(v)) => v,
            Some(Err(e)) => return Err(format!("not JSON: {e}").into()),
        };
        let mut push = |value: Value| {
            let at = format!("record {} (line {line})", out.len() + 1);
            out.push(Record { at, value });
        };
        match value {
            Value::Array(users) => users.into_iter().for_each(&mut push),
            user @ Value::Object(_) => push(user),
            other => {
                return Err(format!(
                    "line {line}: expected a user object or an array of them, found {}",
                    kind(&other)
                )
                .into())
            }
        }
    }
    Ok(out)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// What a record becomes.
enum Planned {
    User(ImportedUser),
    Anonymous(String),
    Server(String),
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
    let identities: Vec<(String, String)> = match obj.get("identities") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list
            .iter()
            .map(|i| {
                let t = i.get("provider_type").and_then(Value::as_str);
                let iid = i.get("id").and_then(Value::as_str);
                match (t, iid) {
                    (Some(t), Some(iid)) => Ok((t.to_owned(), iid.to_owned())),
                    _ => Err(bad(
                        "an identity without string `id` and `provider_type`".to_owned()
                    )),
                }
            })
            .collect::<Result<_>>()?,
        Some(other) => {
            return Err(bad(format!(
                "`identities` is {}, not an array",
                kind(other)
            )))
        }
    };
    if obj.get("type").and_then(Value::as_str) == Some("server") {
        return Ok((Planned::Server(id), 0));
    }
    let email = match format {
        ImportFormat::Flowerbase => obj.get("email"),
        _ => obj.get("data").and_then(|d| d.get("email")),
    }
    .and_then(Value::as_str)
    .map(|e| e.trim().to_lowercase());
    if let Some(e) = &email {
        email::check(e).map_err(|err| bad(format!("email {e:?}: {}", err.message)))?;
    }
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
        return Err(bad("an email/password user without an email".to_owned()));
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

/// Whether an existing row is the same user as an imported one.
fn same(existing: &ExistingUser, u: &ImportedUser, app: &str) -> bool {
    existing.app_id == app
        && existing.email == u.email
        && existing.provider == u.provider
        && existing.created_at == u.created_at
        && existing.disabled == u.disabled
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
    let text = std::fs::read_to_string(args.file).map_err(|e| format!("{file}: {e}"))?;
    let records = records(&text).map_err(|e| format!("{file}: {e}"))?;
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
            (Some(e), _) if same(e, &u, args.app) => unchanged.push(u),
            (Some(_), _) => conflicts.push(format!("{}: the id exists with other data", u.id)),
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
    let verb = if args.dry_run {
        "would import"
    } else {
        "imported"
    };
    if !args.dry_run && !new.is_empty() {
        store.import_users(args.app, &new).await?;
    }
    let userpass = new.iter().filter(|u| u.email.is_some()).count();
    writeln!(
        out,
        "{verb} {} users into app {} ({userpass} email/password: their first login fails like a wrong password \
         until they reset it; {} of other providers)",
        new.len(),
        args.app,
        new.len() - userpass
    )?;
    writeln!(
        out,
        "unchanged: {} (already imported with the same data)",
        unchanged.len()
    )?;
    writeln!(
        out,
        "not imported: {} anonymous users, {} server users",
        anonymous.len(),
        servers.len()
    )?;
    for id in anonymous
        .iter()
        .map(|i| ("anonymous", i))
        .chain(servers.iter().map(|i| ("server", i)))
    {
        writeln!(out, "  {} {}", id.0, id.1)?;
    }
    writeln!(
        out,
        "dropped: {dropped} api-key identities (key secrets cannot be exported: create new keys)"
    )?;
    if args.send_reset_emails {
        let targets: Vec<String> = new
            .iter()
            .chain(&unchanged)
            .filter(|u| u.email.is_some() && !u.disabled)
            .map(|u| u.id.clone())
            .collect();
        let queued = if args.dry_run {
            targets.len() as u64
        } else {
            store.queue_resets(&targets, args.resend).await?
        };
        writeln!(
            out,
            "reset emails {}: {queued} (servers with email configured send them at \
             --import-reset-emails-per-minute; never twice unless --resend)",
            if args.dry_run { "to queue" } else { "queued" }
        )?;
    }
    if let Some(documents) = custom_data {
        import_custom_data(store, &args, documents, (&existing, &new), out).await?;
    }
    if !conflicts.is_empty() {
        writeln!(out, "conflicts: {} (not changed)", conflicts.len())?;
        for c in &conflicts {
            writeln!(out, "  {c}")?;
        }
        return Err(format!(
            "{} records conflict with the database (see above)",
            conflicts.len()
        )
        .into());
    }
    Ok(())
}
