//! The password rule of registration and reset.

use appkeys_protocol::ErrorCode;

use crate::error::AppError;

/// Shortest accepted password (characters).
pub const MIN_LEN: usize = 6;
/// Longest accepted password (characters).
pub const MAX_LEN: usize = 128;

/// Registration's password rule (also for a reset): 6 to 128 characters, else 400 `InvalidParameter`.
pub fn check(password: &str) -> Result<(), AppError> {
    let chars = password.chars().count();
    if !(MIN_LEN..=MAX_LEN).contains(&chars) {
        return Err(AppError::new(
            ErrorCode::InvalidParameter,
            format!("password must be between {MIN_LEN} and {MAX_LEN} characters"),
        ));
    }
    Ok(())
}
