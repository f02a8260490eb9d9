//! `check-layers [--root DIR]`: checks the layering rule of appkeys-server (see the library) on
//! `server/src`, or on another copy of it. Exits 1 with one line per violation.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = match args.as_slice() {
        [] => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../server/src"),
        [flag, dir] if flag == "--root" => PathBuf::from(dir),
        _ => {
            eprintln!("usage: check-layers [--root DIR]");
            return ExitCode::from(2);
        }
    };
    let report = match appkeys_check_layers::check(&root) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("check-layers: cannot read {}: {e}", root.display());
            return ExitCode::from(2);
        }
    };
    if !report.problems.is_empty() {
        eprintln!(
            "check-layers: {} problem(s) in {}",
            report.problems.len(),
            root.display()
        );
        for p in &report.problems {
            eprintln!("  {p}");
        }
        return ExitCode::FAILURE;
    }
    println!(
        "check-layers: {} files, {} imports between them in {}: layers, cycles and sizes ok",
        report.files,
        report.imports,
        root.display()
    );
    ExitCode::SUCCESS
}
