//! Custom user data (issue 31): one JSON object per user, written by the app's backend (admin API, admin
//! CLI, `users import`), never by the user, and carried in the access token's `user_data` claim.

use serde_json::Value;

/// Largest custom data document (its compact JSON), in bytes.
pub const MAX_CUSTOM_DATA_BYTES: usize = 16 * 1024;

/// Why a document cannot be a user's custom data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomDataError {
    /// Not JSON (with serde_json's reason).
    NotJson(String),
    /// JSON, but not an object.
    NotObject,
    /// Larger than [`MAX_CUSTOM_DATA_BYTES`] (its size).
    TooLarge(usize),
}

impl std::fmt::Display for CustomDataError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CustomDataError::NotJson(why) => write!(f, "custom data must be JSON: {why}"),
            CustomDataError::NotObject => write!(f, "custom data must be a JSON object"),
            CustomDataError::TooLarge(n) => write!(
                f,
                "custom data is {n} bytes; at most {MAX_CUSTOM_DATA_BYTES} are kept per user"
            ),
        }
    }
}

/// `value` as stored custom data: an object, in compact JSON of at most [`MAX_CUSTOM_DATA_BYTES`].
pub fn from_value(value: &Value) -> Result<String, CustomDataError> {
    if !value.is_object() {
        return Err(CustomDataError::NotObject);
    }
    let text = value.to_string();
    match text.len() {
        n if n > MAX_CUSTOM_DATA_BYTES => Err(CustomDataError::TooLarge(n)),
        _ => Ok(text),
    }
}

/// The JSON text `bytes` as stored custom data.
pub fn from_json(bytes: &[u8]) -> Result<String, CustomDataError> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| CustomDataError::NotJson(e.to_string()))?;
    from_value(&value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_up_to_16_kb_are_kept_compact() {
        assert_eq!(
            from_json(br#"{ "plan": "pro" }"#).unwrap(),
            r#"{"plan":"pro"}"#
        );
        assert_eq!(from_json(b"[1]"), Err(CustomDataError::NotObject));
        assert!(matches!(from_json(b"{"), Err(CustomDataError::NotJson(_))));
        let big = format!(r#"{{"x":"{}"}}"#, "a".repeat(MAX_CUSTOM_DATA_BYTES));
        assert!(matches!(
            from_json(big.as_bytes()),
            Err(CustomDataError::TooLarge(_))
        ));
    }
}
