//! Custom user data and authentication triggers of an export: the import to run, and the webhooks.

use std::path::Path;

use serde_json::Value;

use super::{json_files, list, new_secret, quoted, read_json, str_of, Draft, Result};

pub(super) fn custom_user_data(dir: &Path, d: &mut Draft) -> Result {
    let Some(c) = read_json(&dir.join("auth/custom_user_data.json"))? else {
        return Ok(());
    };
    if c.get("enabled").and_then(Value::as_bool) != Some(true) {
        return Ok(());
    }
    let field = str_of(&c, "user_id_field").unwrap_or("user_id");
    d.to_fill.push(format!(
        "custom user data: `mongoexport --db {} --collection {} --out custom.jsonl`, then `appkeys-server users import \
         USERS.json --app APP --custom-data custom.jsonl --custom-data-id-field {field}`; your backend writes it \
         through the admin API (set admin-credentials-file)",
        str_of(&c, "database_name").unwrap_or("DB"),
        str_of(&c, "collection_name").unwrap_or("COLLECTION"),
    ));
    if let Some(f) = str_of(&c, "on_user_creation_function_name") {
        d.not_carried.push(format!(
            "custom user data: on_user_creation_function_name ({f}) — receive the user.created webhook instead"
        ));
    }
    d.carried.push(format!(
        "custom user data (user id field `{field}`; the data by import)"
    ));
    Ok(())
}

pub(super) fn triggers(dir: &Path, files: &Path, d: &mut Draft) -> Result {
    let mut events: Vec<String> = Vec::new();
    for (path, t) in json_files(&dir.join("triggers"))? {
        let name = str_of(&t, "name").unwrap_or("?").to_owned();
        if str_of(&t, "type") != Some("AUTHENTICATION") {
            d.not_carried.push(format!(
                "trigger {name} ({}): only authentication triggers carry over",
                str_of(&t, "type").unwrap_or("?")
            ));
            continue;
        }
        if t.get("disabled").and_then(Value::as_bool) == Some(true) {
            d.not_carried
                .push(format!("trigger {name}: disabled in App Services"));
            continue;
        }
        let event = match t.pointer("/config/operation_type").and_then(Value::as_str) {
            Some("CREATE") => "user.created",
            Some("LOGIN") => "user.logged_in",
            Some("DELETE") => "user.deleted",
            other => {
                d.not_carried.push(format!(
                    "trigger {name}: operation {}",
                    other.unwrap_or("?")
                ));
                continue;
            }
        };
        if !events.iter().any(|e| e == event) {
            events.push(event.to_owned());
        }
        let function = str_of(&t, "function_name")
            .or_else(|| {
                t.pointer("/event_processors/FUNCTION/config/function_name")
                    .and_then(Value::as_str)
            })
            .unwrap_or("?");
        d.to_fill.push(format!(
            "trigger {name} ({}): port functions/{function} to your webhook receiver ({event} events)",
            path.file_name().and_then(|n| n.to_str()).unwrap_or("")
        ));
    }
    if events.is_empty() {
        return Ok(());
    }
    d.section("Webhooks (the authentication triggers)");
    d.note("TO FILL: your receiver's URL; it verifies the Standard Webhooks signature with the secret file below.");
    d.set(
        "webhook-url",
        quoted("https://REPLACE-WITH-YOUR-WEBHOOK-RECEIVER.invalid/appkeys-events"),
    );
    d.files.push(("webhook-secret".to_owned(), new_secret()));
    d.set(
        "webhook-secret-file",
        quoted(&files.join("webhook-secret").display().to_string()),
    );
    d.set("webhook-events", list(&events));
    d.to_fill
        .push("webhook-url: the receiver that replaces the triggers".to_owned());
    d.carried.push(format!(
        "authentication triggers as webhooks ({})",
        events.join(", ")
    ));
    Ok(())
}
