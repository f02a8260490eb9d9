//! The password rule of registration and reset: long enough (`--min-password-length`, 8 by default;
//! App Services' 6 can be configured), at most 128 characters, and not one of the 10,000 most common
//! passwords (zxcvbn's compiled-in list; also reversed or in l33t spelling). Existing accounts keep
//! logging in whatever their password: the rule applies when a password is chosen.

use appkeys_protocol::ErrorCode;
use zxcvbn::matching::patterns::MatchPattern;

use crate::error::AppError;

#[cfg(test)]
use crate::config::DEFAULT_MIN_PASSWORD_LEN as DEFAULT_MIN_LEN;

/// Shortest password that may be configured (App Services' minimum).
pub const MIN_LEN: usize = 6;
/// Longest accepted password (characters).
pub const MAX_LEN: usize = 128;
/// Passwords this high in the frequency list are refused.
const COMMON_RANK: usize = 10_000;

/// 400 `InvalidParameter` unless `password` has `min_len` to 128 characters and is not a common one.
pub fn check(password: &str, min_len: usize) -> Result<(), AppError> {
    let chars = password.chars().count();
    if !(min_len..=MAX_LEN).contains(&chars) {
        return Err(AppError::new(
            ErrorCode::InvalidParameter,
            format!("password must be between {min_len} and {MAX_LEN} characters"),
        ));
    }
    if is_common(password) {
        return Err(AppError::new(
            ErrorCode::InvalidParameter,
            "password is too common: choose one that is not on lists of frequent passwords",
        ));
    }
    Ok(())
}

/// Whether the whole password is one of the most common passwords.
pub fn is_common(password: &str) -> bool {
    let len = password.chars().count();
    zxcvbn::zxcvbn(password, &[]).sequence().iter().any(|m| {
        m.i == 0
            && m.j + 1 == len
            // The dictionary type is not exported by name; its Debug form is its name.
            && matches!(&m.pattern, MatchPattern::Dictionary(d)
                if format!("{:?}", d.dictionary_name) == "Passwords" && d.rank <= COMMON_RANK)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_and_short_passwords_are_refused() {
        for common in [
            "password",
            "password1",
            "Password1",
            "qwerty123",
            "12345678",
            "drowssap",
            "p@ssw0rd",
        ] {
            assert!(is_common(common), "{common}");
        }
        for fine in [
            "correct horse battery",
            "appkeys-test-password",
            "a-brand-new-password",
        ] {
            assert!(!is_common(fine), "{fine}");
            assert!(check(fine, DEFAULT_MIN_LEN).is_ok());
        }
        assert!(check("seven77", DEFAULT_MIN_LEN).is_err());
        assert!(check("zq8#Lm", MIN_LEN).is_ok());
        assert!(check(&"x".repeat(129), MIN_LEN).is_err());
    }
}
