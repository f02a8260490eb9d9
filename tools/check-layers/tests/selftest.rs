//! The layer check on the real `server/src` (passes) and on copies of it with deliberate violations
//! (each fails, naming the file and the rule) — including imports written right after string literals,
//! raw strings, char literals and comments, which a text-based check loses track of.

use std::path::{Path, PathBuf};

use appkeys_check_layers::{check, Report};

fn server_src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../server/src")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The check's report on a copy of `server/src` changed by `change`.
fn check_changed(change: impl FnOnce(&Path)) -> Report {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&server_src(), dir.path());
    change(dir.path());
    check(dir.path()).unwrap()
}

fn edit(root: &Path, file: &str, f: impl FnOnce(String) -> String) {
    let path = root.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(path, f(text)).unwrap();
}

fn append(root: &Path, file: &str, code: &str) {
    edit(root, file, |text| format!("{text}\n{code}\n"));
}

fn has(report: &Report, needle: &str) -> bool {
    report.problems.iter().any(|p| p.contains(needle))
}

#[test]
fn the_server_source_follows_the_layering_rule() {
    let report = check(&server_src()).unwrap();
    assert!(report.problems.is_empty(), "{:#?}", report.problems);
    assert!(report.files > 50, "{} files", report.files);
    assert!(report.imports > 100, "{} imports", report.imports);
}

#[test]
fn a_lower_layer_importing_a_higher_one_fails() {
    for (file, line, from, to) in [
        (
            "db/users.rs",
            "use crate::http::extract::ClientIp;",
            "db",
            "http",
        ),
        (
            "model/audit.rs",
            "use crate::state::AppState;",
            "model",
            "state",
        ),
        (
            "crypto/token.rs",
            "fn f() { let _ = crate::db::Backend::Sqlite; }",
            "crypto",
            "db",
        ),
        (
            "service/ratelimit.rs",
            "use crate::{db::Store, state::{self, AppState}};",
            "service",
            "state",
        ),
        ("jobs/mod.rs", "use crate::http::app;", "jobs", "http"),
        // In a type, a macro call's tokens, and a nested function's `use`.
        (
            "util.rs",
            "pub struct S(pub std::sync::Arc<crate::state::AppState>);",
            "util",
            "state",
        ),
        (
            "model/email.rs",
            "fn g() { tracing::info!(x = ?crate::db::Backend::Sqlite); }",
            "model",
            "db",
        ),
        (
            "crypto/apikey.rs",
            "fn h() { use crate::service::metrics::Metrics as M; let _ = M::new; }",
            "crypto",
            "service",
        ),
    ] {
        let report = check_changed(|root| append(root, file, line));
        let rule = format!("layer '{from}'");
        let target = format!("may not import '{to}'");
        assert!(
            report
                .problems
                .iter()
                .any(|p| p.starts_with(&format!("{file}: "))
                    && p.contains(&rule)
                    && p.contains(&target)),
            "{file}: {line}\n{:#?}",
            report.problems
        );
    }
}

#[test]
fn imports_hidden_after_literals_and_comments_are_seen() {
    for (label, code) in [
        (
            "a string with an escaped quote",
            r#"fn a() { let _s = "say \"hi\""; let _ = crate::http::app; }"#,
        ),
        (
            "a raw string with quotes",
            r##"fn b() { let _s = r#"a "quoted" word"#; let _ = crate::http::app; }"##,
        ),
        (
            "a char literal of a quote",
            r#"fn c() { let _q = '"'; let _ = crate::http::app; let _r = '"'; }"#,
        ),
        (
            "a byte string",
            r#"fn d() { let _b = b"\"x"; let _ = crate::http::app; }"#,
        ),
        (
            "a block comment with a quote",
            "fn e() { /* \" */ let _ = crate::http::app; }",
        ),
        (
            "a line comment with a quote",
            "fn f() { // \"\n let _ = crate::http::app; }",
        ),
        (
            "a lifetime after a string",
            r#"fn g<'a>(_s: &'a str) -> &'a str { let _ = crate::http::app; "'" }"#,
        ),
    ] {
        let report = check_changed(|root| append(root, "db/audit.rs", code));
        assert!(
            has(
                &report,
                "db/audit.rs: 'crate::http::app' — layer 'db' (3) may not import 'http'"
            ),
            "{label}: {code}\n{:#?}",
            report.problems
        );
    }
}

#[test]
fn paths_only_inside_literals_and_comments_are_not_imports() {
    let report = check_changed(|root| {
        append(
            root,
            "db/audit.rs",
            r##"
/// Docs may name crate::http::app.
fn quiet() {
    let _a = "crate::http::app";
    let _b = r#"use crate::state::AppState;"#;
    // use crate::state::AppState;
    /* crate::jobs::run */
}
pub(in crate::db) fn visible() {}
"##,
        )
    });
    assert!(report.problems.is_empty(), "{:#?}", report.problems);
}

#[test]
fn modules_importing_each_other_fail() {
    let report = check_changed(|root| {
        append(
            root,
            "http/routes/login/mod.rs",
            "use super::userpass::confirm;",
        );
        append(root, "http/routes/userpass.rs", "use super::login::login;");
    });
    assert!(
        has(
            &report,
            "import cycle: http/routes/login/mod.rs <-> http/routes/userpass.rs"
        ),
        "{:#?}",
        report.problems
    );
    let through =
        check_changed(|root| append(root, "service/metrics.rs", "use super::mail::Mailer;"));
    assert!(
        has(
            &through,
            "import cycle: service/mail.rs <-> service/metrics.rs"
        ),
        "{:#?}",
        through.problems
    );
    // An inline path in a function body counts as much as a `use`.
    let inline = check_changed(|root| {
        append(
            root,
            "db/devices.rs",
            "fn _back() { let _ = super::keys::NewKey::default; }",
        );
        append(
            root,
            "db/keys.rs",
            "fn _forth() { let _ = super::devices::remember; }",
        );
    });
    assert!(
        has(&inline, "import cycle: db/devices.rs <-> db/keys.rs"),
        "{:#?}",
        inline.problems
    );
}

#[test]
fn a_test_module_using_its_parent_is_no_cycle() {
    let report = check_changed(|root| {
        append(
            root,
            "db/devices.rs",
            "#[cfg(test)]\nmod tests {\n    use super::*;\n    use super::super::Store as _S;\n}",
        );
    });
    assert!(report.problems.is_empty(), "{:#?}", report.problems);
}

#[test]
fn an_oversized_file_or_function_fails() {
    let big = check_changed(|root| append(root, "util.rs", &"//\n".repeat(600)));
    assert!(
        big.problems
            .iter()
            .any(|p| p.starts_with("util.rs: ") && p.ends_with("lines (at most 600)")),
        "{:#?}",
        big.problems
    );
    let body: String = (0..125)
        .map(|i| format!("    let _x{i} = {i};\n"))
        .collect();
    let long =
        check_changed(|root| append(root, "util.rs", &format!("pub fn long() {{\n{body}}}")));
    assert!(
        long.problems.iter().any(|p| p.starts_with("util.rs:") && p.ends_with("fn long is 127 lines (at most 120)")),
        "{:#?}",
        long.problems
    );
    let method = check_changed(|root| {
        append(
            root,
            "util.rs",
            &format!(
                "pub struct L;\nimpl L {{\n    pub fn long_method(&self) {{\n{body}    }}\n}}"
            ),
        )
    });
    assert!(
        has(&method, "fn long_method is 127 lines"),
        "{:#?}",
        method.problems
    );
}

#[test]
fn a_file_that_does_not_parse_fails() {
    let report = check_changed(|root| append(root, "util.rs", "fn broken( {"));
    assert!(has(&report, "util.rs:"), "{:#?}", report.problems);
    assert!(
        has(&report, "does not parse as Rust"),
        "{:#?}",
        report.problems
    );
}
