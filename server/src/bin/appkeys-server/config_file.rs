//! `--config FILE` (issue 31): every serving flag from a TOML file, each key named as its flag without the
//! dashes (`database-url = "…"`, `google-client-id = ["web", "ios"]`, `email-confirmation = true`). The file's
//! settings become command-line flags before clap reads them, unless the flag itself or its environment twin
//! is given: flags and environment override the file. An unknown key, a section, or a value that the flag
//! would refuse stops the server with the file's line and the key.

use std::ffi::OsString;
use std::path::Path;

use clap::{ArgAction, CommandFactory};
use toml::{Spanned, Value};

use crate::cli::Cli;

/// The flag that names the file, and its environment twin.
const FLAG: &str = "config";
const ENV: &str = "APPKEYS_CONFIG";

/// `args` with the settings of the config file (if one is named) inserted as flags.
pub(crate) fn expand(args: Vec<OsString>) -> Result<Vec<OsString>, String> {
    let cmd = Cli::command();
    // The serving flags come first, or after `serve`; admin subcommands take no config file.
    let at = match args.get(1).and_then(|a| a.to_str()) {
        Some("serve") => 2,
        Some(a) if cmd.get_subcommands().any(|s| s.get_name() == a) => return Ok(args),
        _ => 1,
    };
    let given = &args[at.min(args.len())..];
    let file = named_file(given).or_else(|| std::env::var_os(ENV).filter(|v| !v.is_empty()));
    let Some(file) = file else {
        return Ok(args);
    };
    let flags = settings(Path::new(&file), &cmd, given)?;
    let mut out = args[..at.min(args.len())].to_vec();
    out.extend(flags);
    out.extend_from_slice(given);
    Ok(out)
}

/// The value of `--config FILE` / `--config=FILE` on the command line.
fn named_file(given: &[OsString]) -> Option<OsString> {
    let long = format!("--{FLAG}");
    let mut args = given.iter();
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy();
        if text == long {
            return args.next().cloned();
        }
        if let Some(value) = text.strip_prefix(&format!("{long}=")) {
            return Some(value.into());
        }
    }
    None
}

/// The file's settings as flags (`--name=value`), each checked by its flag's own parser.
fn settings(file: &Path, cmd: &clap::Command, given: &[OsString]) -> Result<Vec<OsString>, String> {
    let shown = file.display();
    let text = std::fs::read_to_string(file).map_err(|e| format!("--{FLAG} {shown}: {e}"))?;
    let table: std::collections::BTreeMap<Spanned<String>, Spanned<Value>> =
        toml::from_str(&text).map_err(|e| format!("--{FLAG} {shown}: {e}"))?;
    let line = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let mut flags = Vec::new();
    let mut keys: Vec<_> = table.into_iter().collect();
    keys.sort_by_key(|(k, _)| k.span().start);
    for (key, value) in keys {
        let at = format!("{shown}:{}: `{}`", line(key.span().start), key.get_ref());
        let name = key.get_ref().as_str();
        let arg = cmd
            .get_arguments()
            .find(|a| a.get_long() == Some(name) && name != FLAG)
            .ok_or_else(|| {
                format!("{at}: not a setting (keys are the flags' names, without --)")
            })?;
        let on_command_line = given.iter().any(|g| {
            let g = g.to_string_lossy();
            g == format!("--{name}") || g.starts_with(&format!("--{name}="))
        });
        let in_env = arg.get_env().is_some_and(|e| std::env::var_os(e).is_some());
        let values =
            values_of(value.get_ref(), arg.get_action()).map_err(|e| format!("{at}: {e}"))?;
        for v in &values {
            check(cmd, name, v).map_err(|e| format!("{at}: {e}"))?;
        }
        if on_command_line || in_env {
            continue;
        }
        match arg.get_action() {
            ArgAction::SetTrue => {
                if values == ["true"] {
                    flags.push(format!("--{name}").into());
                }
            }
            _ => flags.extend(
                values
                    .iter()
                    .map(|v| OsString::from(format!("--{name}={v}"))),
            ),
        }
    }
    Ok(flags)
}

/// A TOML value as the flag's values: a boolean for a switch, a list for a repeatable flag, else one
/// scalar.
fn values_of(value: &Value, action: &ArgAction) -> Result<Vec<String>, String> {
    let scalar = |v: &Value| match v {
        Value::String(s) => Ok(s.clone()),
        Value::Integer(i) => Ok(i.to_string()),
        Value::Float(f) => Ok(f.to_string()),
        Value::Boolean(b) => Ok(b.to_string()),
        Value::Datetime(d) => Ok(d.to_string()),
        Value::Array(_) => Err("expected one value, not a list".to_owned()),
        Value::Table(_) => Err("expected a value, not a table".to_owned()),
    };
    match (action, value) {
        (ArgAction::SetTrue, Value::Boolean(b)) => Ok(vec![b.to_string()]),
        (ArgAction::SetTrue, _) => Err("expected true or false".to_owned()),
        (ArgAction::Append, Value::Array(items)) => items.iter().map(scalar).collect(),
        (_, v) => scalar(v).map(|s| vec![s]),
    }
}

/// Whether flag `name` takes `value`: clap parses `--name=value` alone; only a refusal of that value counts
/// (not the other flags' absence).
fn check(cmd: &clap::Command, name: &str, value: &str) -> Result<(), String> {
    use clap::error::ErrorKind;
    let argv = [
        OsString::from("appkeys-server"),
        OsString::from(format!("--{name}={value}")),
    ];
    match cmd.clone().try_get_matches_from(argv) {
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::InvalidValue | ErrorKind::ValueValidation
            ) =>
        {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or_default();
            Err(first.trim_start_matches("error: ").to_owned())
        }
        _ => Ok(()),
    }
}
