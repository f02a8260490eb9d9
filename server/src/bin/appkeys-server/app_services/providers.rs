//! The email/password and custom JWT settings of an export.

use std::path::Path;

use serde_json::Value;

use super::{list, placeholder, quoted, str_of, Draft, Lookup};

pub(super) fn local_userpass(config: &Value, files: &Path, d: &mut Draft) {
    d.section("Email/password (local-userpass)");
    let confirm = config.get("autoConfirm").and_then(Value::as_bool) == Some(false);
    if confirm {
        d.set("email-confirmation", "true".to_owned());
        match str_of(config, "emailConfirmationUrl") {
            Some(url) => d.set("confirm-url", quoted(url)),
            None => {
                d.to_fill
                    .push("confirm-url: the page your confirmation links open".to_owned());
                d.set(
                    "confirm-url",
                    quoted("https://REPLACE-WITH-YOUR-CONFIRM-PAGE.invalid/confirm"),
                );
            }
        }
    }
    if let Some(url) = str_of(config, "resetPasswordUrl") {
        d.set("reset-url", quoted(url));
    }
    let mail = files.parent().unwrap_or(files).join("mail");
    d.note("TO FILL: replace mail-dir with smtp-url = \"smtp://user:password@host:587\" (mail is written to files until then).");
    d.set("mail-dir", quoted(&mail.display().to_string()));
    d.to_fill.push(format!(
        "smtp-url: your SMTP server (confirmation and reset emails go to {} until then)",
        mail.display()
    ));
    for (flag, name) in [
        ("runConfirmationFunction", "confirmationFunctionName"),
        ("runResetFunction", "resetFunctionName"),
    ] {
        if config.get(flag).and_then(Value::as_bool) == Some(true) {
            d.not_carried.push(format!(
                "local-userpass: {flag} ({}) — appkeys sends the emails itself",
                str_of(config, name).unwrap_or("?")
            ));
        }
    }
    d.carried.push(format!(
        "local-userpass (confirmation {})",
        if confirm { "on" } else { "off" }
    ));
}

pub(super) fn custom_token(
    p: &Value,
    config: &Value,
    lookup: &Lookup,
    files: &Path,
    d: &mut Draft,
) {
    d.section("Custom JWT (custom-token)");
    let audiences: Vec<String> = match config.get("audience") {
        Some(Value::String(a)) if !a.is_empty() => vec![a.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    if !audiences.is_empty() {
        d.set("custom-jwt-audience", list(&audiences));
        if audiences.len() > 1
            && config.get("requireAnyAudience").and_then(Value::as_bool) == Some(false)
        {
            d.not_carried.push("custom-token: requireAnyAudience = false (all audiences) — appkeys accepts any one".to_owned());
        }
    }
    let fields = metadata_fields(p);
    if !fields.is_empty() {
        d.set("custom-jwt-metadata", list(&fields));
    }
    let jwk = config.get("useJWKURI").and_then(Value::as_bool) == Some(true);
    let names: Vec<String> = p
        .pointer("/secret_config/signingKeys")
        .and_then(Value::as_array)
        .map(|k| {
            k.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let known: Vec<String> = names.iter().filter_map(|n| lookup.secret(n)).collect();
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| lookup.secret(n).is_none())
        .collect();
    let algorithm = str_of(config, "signingAlgorithm").unwrap_or("HS256");
    match (jwk, str_of(config, "jwkURI"), algorithm) {
        (true, Some(url), _) => d.set("custom-jwt-jwks-url", quoted(url)),
        (true, None, _) => d
            .to_fill
            .push("custom-jwt-jwks-url: useJWKURI is on but jwkURI is empty".to_owned()),
        (false, _, "RS256") if !known.is_empty() => {
            d.files
                .push(("custom-jwt-public-keys.pem".to_owned(), known.join("\n")));
            d.set(
                "custom-jwt-public-key-file",
                quoted(
                    &files
                        .join("custom-jwt-public-keys.pem")
                        .display()
                        .to_string(),
                ),
            );
        }
        (false, _, "RS256") => {
            d.note("TO FILL: your identity provider's RS256 public key(s) in PEM, then uncomment:");
            d.lines.push(format!(
                "# custom-jwt-public-key-file = {}",
                quoted(
                    &files
                        .join("custom-jwt-public-keys.pem")
                        .display()
                        .to_string()
                )
            ));
            d.to_fill.push(format!(
                "custom-jwt-public-key-file: the RS256 public keys {} (custom JWT logins stay off until then)",
                names.join(", ")
            ));
        }
        _ => {
            let mut lines = known.clone();
            for name in &missing {
                lines.push(placeholder(name));
            }
            if lines.is_empty() {
                lines.push(placeholder("hs256-signing-key"));
            }
            d.files
                .push(("custom-jwt-secrets".to_owned(), lines.join("\n")));
            d.set(
                "custom-jwt-secret-file",
                quoted(&files.join("custom-jwt-secrets").display().to_string()),
            );
            if !missing.is_empty() || known.is_empty() {
                d.to_fill.push(format!(
                    "{}: the HS256 signing keys {} (not exported; give them with --secrets)",
                    files.join("custom-jwt-secrets").display(),
                    names.join(", ")
                ));
            }
        }
    }
    d.carried.push(format!(
        "custom-token ({algorithm}{})",
        if jwk { ", JWKS" } else { "" }
    ));
}

/// `metadata_fields` as `--custom-jwt-metadata` values (`FIELD=CLAIM.PATH`, `!=` when required).
fn metadata_fields(p: &Value) -> Vec<String> {
    p.get("metadata_fields")
        .and_then(Value::as_array)
        .map(|m| {
            m.iter()
                .filter_map(|f| {
                    let name = str_of(f, "name")?;
                    let field = str_of(f, "field_name").unwrap_or(name);
                    let required = f.get("required").and_then(Value::as_bool) == Some(true);
                    Some(format!("{field}{}={name}", if required { "!" } else { "" }))
                })
                .collect()
        })
        .unwrap_or_default()
}
