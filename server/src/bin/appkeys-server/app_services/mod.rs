//! `appkeys-server config from-app-services DIR` (issue 31): an exported App Services app (`auth/providers.json`,
//! `auth/custom_user_data.json`, `triggers/*.json`, `values/*.json`, the app id of `realm_config.json`,
//! `root_config.json` or `config.json`) becomes a config file for `--config`, with every provider appkeys can
//! serve, the webhooks that replace its authentication triggers, and a report of what is carried over, what is to
//! fill in (secrets are never exported: `--secrets FILE` supplies them by name) and what does not carry over.
//! Secret files are written next to the config (a private folder); nothing is dropped silently.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

mod events;
mod providers;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

/// What the command was asked to do.
pub(crate) struct Request<'a> {
    pub(crate) dir: &'a Path,
    pub(crate) out: &'a Path,
    pub(crate) secrets: Option<&'a Path>,
    pub(crate) app: Option<&'a str>,
    pub(crate) force: bool,
}

/// The config being written and the report of it.
#[derive(Default)]
struct Draft {
    lines: Vec<String>,
    carried: Vec<String>,
    to_fill: Vec<String>,
    not_carried: Vec<String>,
    /// Secret files to write: (file name, content).
    files: Vec<(String, String)>,
}

/// A TOML basic string (JSON's string escapes are TOML's).
fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| quoted(i)).collect();
    format!("[{}]", quoted.join(", "))
}

impl Draft {
    fn section(&mut self, title: &str) {
        self.lines.push(String::new());
        self.lines.push(format!("# --- {title} ---"));
    }
    fn set(&mut self, key: &str, value: String) {
        self.lines.push(format!("{key} = {value}"));
    }
    fn note(&mut self, text: &str) {
        self.lines.push(format!("# {text}"));
    }
}

/// The JSON file `path` (`None` when it does not exist).
fn read_json(path: &Path) -> Result<Option<Value>> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            Ok(Some(serde_json::from_str(&text).map_err(|e| {
                format!("{}: not JSON: {e}", path.display())
            })?))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display()).into()),
    }
}

/// The JSON files of folder `dir` (every `*.json`, also one level down), sorted by path.
fn json_files(dir: &Path) -> Result<Vec<(PathBuf, Value)>> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(out);
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            out.extend(json_files(&path)?);
        } else if path.extension().is_some_and(|e| e == "json") {
            if let Some(v) = read_json(&path)? {
                out.push((path, v));
            }
        }
    }
    Ok(out)
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// `values/` and the operator's secrets: what `%%values.NAME` and secret names stand for.
struct Lookup {
    values: BTreeMap<String, (Value, bool)>,
    secrets: BTreeMap<String, String>,
}

impl Lookup {
    /// `text` with a `%%values.NAME` placeholder resolved (`Err` names what is missing).
    fn resolve(&self, text: &str) -> std::result::Result<String, String> {
        let Some(name) = text.strip_prefix("%%values.") else {
            return Ok(text.to_owned());
        };
        match self.values.get(name) {
            Some((Value::String(secret), true)) => self
                .secret(secret)
                .ok_or_else(|| format!("the secret `{secret}` (value `{name}`)")),
            Some((Value::String(v), false)) => Ok(v.clone()),
            Some((other, false)) => Ok(other.to_string()),
            _ => Err(format!("the value `{name}`")),
        }
    }

    fn secret(&self, name: &str) -> Option<String> {
        self.secrets.get(name).cloned()
    }
}

/// The app id of the export's config file.
fn app_id(dir: &Path) -> Result<Option<String>> {
    for name in ["realm_config.json", "root_config.json", "config.json"] {
        if let Some(v) = read_json(&dir.join(name))? {
            if let Some(id) = str_of(&v, "app_id").or_else(|| str_of(&v, "client_app_id")) {
                return Ok(Some(id.to_owned()));
            }
        }
    }
    Ok(None)
}

/// What stands in a secret file until the operator fills it in: named, and random (a placeholder that
/// anyone could know would be a key anyone could sign with).
fn placeholder(what: &str) -> String {
    let mut bytes = [0u8; 24];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    format!(
        "REPLACE-WITH-{}-{}",
        what.to_ascii_uppercase(),
        hex::encode(bytes)
    )
}

/// A random Standard Webhooks secret.
fn new_secret() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// Writes the config of `req` and prints the report.
pub(crate) fn from_app_services(req: Request<'_>, out: &mut impl Write) -> Result {
    if req.out.exists() && !req.force {
        return Err(format!("{} exists (--force replaces it)", req.out.display()).into());
    }
    let providers = read_json(&req.dir.join("auth/providers.json"))?.ok_or_else(|| {
        format!(
            "{}: no auth/providers.json (an exported App Services app?)",
            req.dir.display()
        )
    })?;
    let secrets: BTreeMap<String, String> = match req.secrets {
        Some(path) => serde_json::from_str(&std::fs::read_to_string(path)?).map_err(|e| {
            format!(
                "{}: expected a JSON object of secret names and values: {e}",
                path.display()
            )
        })?,
        None => BTreeMap::new(),
    };
    let mut values = BTreeMap::new();
    for (_, v) in json_files(&req.dir.join("values"))? {
        if let Some(name) = str_of(&v, "name") {
            let secret = v.get("from_secret").and_then(Value::as_bool) == Some(true);
            values.insert(
                name.to_owned(),
                (v.get("value").cloned().unwrap_or(Value::Null), secret),
            );
        }
    }
    let lookup = Lookup { values, secrets };
    let app = match req.app {
        Some(a) => a.to_owned(),
        None => app_id(req.dir)?
            .ok_or("no app_id in realm_config.json, root_config.json or config.json: pass --app")?,
    };
    let out_dir = req
        .out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let files_dir = std::fs::canonicalize(out_dir)?.join("appkeys-secrets");
    let mut d = Draft::default();
    d.note(&format!(
        "Written by `appkeys-server config from-app-services {}`.",
        req.dir.display()
    ));
    d.note("Start with: appkeys-server --config THIS_FILE (flags and environment variables override it).");
    d.note("Lines marked TO FILL need a value that App Services did not export.");
    d.set("app", list(std::slice::from_ref(&app)));
    let entries = providers.as_array().cloned().unwrap_or_default();
    for p in &entries {
        provider(p, &lookup, &files_dir, &mut d);
    }
    events::custom_user_data(req.dir, &mut d)?;
    events::triggers(req.dir, &files_dir, &mut d)?;
    write_files(&files_dir, &d.files)?;
    let mut text = d.lines.join("\n");
    text.push('\n');
    std::fs::write(req.out, text)?;
    report(&d, req.out, out)?;
    Ok(())
}

/// One entry of `auth/providers.json`.
fn provider(p: &Value, lookup: &Lookup, files: &Path, d: &mut Draft) {
    let kind = str_of(p, "type").unwrap_or("?");
    let config = p.get("config").cloned().unwrap_or(Value::Null);
    if p.get("disabled").and_then(Value::as_bool) == Some(true) {
        let served = matches!(kind, "anon-user" | "api-key" | "local-userpass");
        d.not_carried.push(match served {
            true => format!("{kind} was disabled in App Services: appkeys always serves it"),
            false => format!("{kind} was disabled in App Services: not configured"),
        });
        return;
    }
    let secret_file = |d: &mut Draft, file: &str, name: Option<&str>, what: &str| -> String {
        let path = files.join(file).display().to_string();
        let value = name.and_then(|n| lookup.secret(n));
        if value.is_none() {
            d.to_fill.push(format!(
                "{path}: {what} (the secret `{}` was not exported; give it with --secrets)",
                name.unwrap_or("?")
            ));
        }
        let content = value.unwrap_or_else(|| placeholder(file));
        d.files.push((file.to_owned(), content));
        path
    };
    match kind {
        "anon-user" | "api-key" => d.carried.push(format!("{kind}: always on in appkeys")),
        "local-userpass" => providers::local_userpass(&config, files, d),
        "custom-token" => providers::custom_token(p, &config, lookup, files, d),
        "oauth2-google" | "oauth2-apple" | "oauth2-facebook" => {
            let id = match str_of(&config, "clientId").map(|c| lookup.resolve(c)) {
                Some(Ok(id)) => id,
                Some(Err(missing)) => {
                    d.to_fill.push(format!(
                        "{kind}: its client id comes from {missing}; not in the export"
                    ));
                    "REPLACE-WITH-CLIENT-ID".to_owned()
                }
                None => {
                    d.not_carried
                        .push(format!("{kind}: no clientId in its config"));
                    return;
                }
            };
            let secret_name = p
                .pointer("/secret_config/clientSecret")
                .and_then(Value::as_str);
            match kind {
                "oauth2-google" => {
                    d.section("Google (oauth2-google)");
                    d.set("google-client-id", list(&[id]));
                    d.note("Add your iOS and Android client ids to the list.");
                    if secret_name.is_some() {
                        let path = secret_file(
                            d,
                            "google-client-secret",
                            secret_name,
                            "the web client's secret",
                        );
                        d.set("google-client-secret-file", quoted(&path));
                    }
                }
                "oauth2-apple" => {
                    d.section("Apple (oauth2-apple)");
                    d.set("apple-client-id", list(&[id]));
                    d.note("Add your bundle ids; for the web redirect flow set apple-team-id, apple-key-id, apple-private-key-file.");
                }
                _ => {
                    d.section("Facebook (oauth2-facebook)");
                    d.set("facebook-app-id", quoted(&id));
                    let path = secret_file(
                        d,
                        "facebook-app-secret",
                        secret_name,
                        "the Facebook app secret",
                    );
                    d.set("facebook-app-secret-file", quoted(&path));
                }
            }
            if p.get("metadata_fields")
                .and_then(Value::as_array)
                .is_some_and(|m| !m.is_empty())
            {
                d.not_carried.push(format!(
                    "{kind}: metadata_fields — appkeys copies the provider's name, email and picture fields itself"
                ));
            }
            d.carried.push(kind.to_owned());
        }
        "custom-function" => {
            let function = str_of(&config, "authFunctionName").unwrap_or("?");
            d.section("Authentication function (custom-function)");
            d.note(&format!("TO FILL: serve the body of functions/{function} at this URL (README, \"Authentication function\")."));
            d.set(
                "function-url",
                quoted("https://REPLACE-WITH-YOUR-AUTH-FUNCTION.invalid/login"),
            );
            d.files.push(("function-secret".to_owned(), new_secret()));
            d.set(
                "function-secret-file",
                quoted(&files.join("function-secret").display().to_string()),
            );
            d.to_fill.push(format!(
                "function-url: port functions/{function} to an HTTPS endpoint that checks the signature made with {}",
                files.join("function-secret").display()
            ));
            d.carried
                .push("custom-function (its code does not: see above)".to_owned());
        }
        other => d
            .not_carried
            .push(format!("{other}: not a provider appkeys serves")),
    }
}

/// Writes the secret files (folder 0700, files 0600).
fn write_files(dir: &Path, files: &[(String, String)]) -> Result {
    if files.is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    for (name, content) in files {
        let path = dir.join(name);
        let _ = std::fs::remove_file(&path);
        appkeys_server::crypto::secrets::write_new_private_file(
            &path,
            format!("{content}\n").as_bytes(),
        )?;
    }
    Ok(())
}

fn report(d: &Draft, file: &Path, out: &mut impl Write) -> Result {
    writeln!(out, "wrote {}", file.display())?;
    for (title, items) in [
        ("carried over", &d.carried),
        ("to fill in", &d.to_fill),
        ("not carried over", &d.not_carried),
    ] {
        writeln!(out, "{title}: {}", items.len())?;
        for item in items {
            writeln!(out, "  - {item}")?;
        }
    }
    Ok(())
}
