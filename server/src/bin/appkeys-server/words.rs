//! Counts in the commands' output: "1 user", "2 users".

/// `n` with the singular `one` or the plural `many`.
pub(crate) fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn one_is_singular_every_other_count_plural() {
        assert_eq!(count(0, "user", "users"), "0 users");
        assert_eq!(count(1, "user", "users"), "1 user");
        assert_eq!(
            count(2, "anonymous user", "anonymous users"),
            "2 anonymous users"
        );
    }
}
