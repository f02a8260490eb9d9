//! `appkeys-server`: parse the command line, then serve ([`run`]) or run an admin command ([`admin`]).
//! The flags are in [`cli`].

mod admin;
mod app_services;
mod cli;
mod config_file;
mod custom_jwt_flags;
mod import;
mod outbox;
mod run;
mod serve_flags;
mod social_flags;
mod webhook_flags;
mod words;

use std::io::IsTerminal;

use clap::Parser;

use cli::{Cli, Command, LogFormat};

#[tokio::main]
async fn main() {
    let args = match config_file::expand(std::env::args_os().collect()) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("appkeys-server: {e}");
            std::process::exit(2);
        }
    };
    let cli = Cli::parse_from(args);
    let serve = match cli.command {
        None => cli.serve,
        Some(Command::Serve(args)) => *args,
        Some(command) => {
            if let Err(e) = admin::admin(command).await {
                eprintln!("appkeys-server: {e}");
                std::process::exit(1);
            }
            return;
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    let json_logs = matches!(serve.log_format, LogFormat::Json);
    if json_logs {
        logs.json().init();
    } else {
        logs.with_ansi(std::io::stderr().is_terminal()).init();
    }
    if let Err(e) = run::run(serve).await {
        // Said once: a JSON log line for log collectors, else one plain line (the text log would repeat it).
        if json_logs {
            tracing::error!("{e}");
        } else {
            eprintln!("appkeys-server: {e}");
        }
        std::process::exit(1);
    }
}
