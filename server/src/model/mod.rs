//! Domain types shared by every layer above: audit events, the emailed-token purposes, and the rules
//! an email address and a password must follow. No I/O here.

pub mod audit;
pub mod email;
pub mod network;
pub mod password;

pub use audit::{Client, Entry, Event};

/// What an emailed token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Confirming a new account.
    Confirm,
    /// Resetting a password.
    Reset,
}

impl Purpose {
    /// The stored name (and the metrics label).
    pub const fn as_str(self) -> &'static str {
        match self {
            Purpose::Confirm => "confirm",
            Purpose::Reset => "reset",
        }
    }
}
