//! Email addresses as registration accepts them.

use appkeys_protocol::ErrorCode;

use crate::error::AppError;

/// Registration's email rule (also for the confirmation and reset emails): 400 `InvalidParameter`
/// unless `email` (trimmed, lower-cased) is an address registration accepts.
pub fn check(email: &str) -> Result<(), AppError> {
    if valid(email) {
        Ok(())
    } else {
        Err(AppError::new(
            ErrorCode::InvalidParameter,
            "'email' must be an email address (local@domain)",
        ))
    }
}

/// Registration's rule: `local@domain`, at most 254 bytes, ASCII only (no control, whitespace or
/// zero-width characters anywhere); the local part 1–64 printable characters without `@`, quotes,
/// parentheses, commas, colons, semicolons, angle or square brackets or backslashes; the domain one
/// or more dot-separated labels of letters, digits and inner hyphens (a dot-less domain such as
/// `localhost` is accepted).
pub fn valid(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    let local_ok = (1..=64).contains(&local.len())
        && local
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"\"(),:;<>@[\\]".contains(&b))
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..");
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    email.len() <= 254 && local_ok && domain.split('.').all(label_ok)
}

/// What login looks up at all: anything that could have been registered (cheap pre-check; unknown
/// addresses are still rate limited and cost a dummy hash).
pub fn plausible(email: &str) -> bool {
    email.contains('@')
        && email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_accepts_plain_addresses_only() {
        for ok in [
            "a@b.c",
            "first.last+tag@example.co.uk",
            "x@localhost",
            "a_b-c@x-y.z9",
        ] {
            assert!(valid(ok), "{ok}");
        }
        for bad in [
            "",
            "a",
            "@b.c",
            "a@",
            "a@@b.c",
            "a@b..c",
            "a@.b",
            "a@b.",
            "a@-b.c",
            "a@b-.c",
            "a b@c.d",
            "a@b c.d",
            "a\u{200b}@b.c",
            "a@b\u{200b}.c",
            "a\u{0}@b.c",
            "a\n@b.c",
            "é@b.c",
            "a@bé.c",
            "\"a\"@b.c",
            ".a@b.c",
            "a.@b.c",
            "a..b@c.d",
            "a@b_c.d",
        ] {
            assert!(!valid(bad), "{bad:?}");
        }
        assert!(!valid(&format!("{}@b.c", "a".repeat(65))));
    }
}
