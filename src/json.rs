//! The little JSON the core needs: reading string fields of parsed values (the parser itself is
//! the platform's: `JSON.parse` in the wasm build, serde_json in native tests) and writing the few
//! request bodies and storage values, which are flat objects or arrays of strings. The writers here
//! serve native code; the wasm build overrides them with `JSON.stringify`/`JSON.parse` (smaller).
#[allow(unused_imports)]
use crate::prelude::*;

/// A parsed JSON value, as far as the core looks into it.
pub trait Json: Clone {
    /// The value of `name` if this is an object whose field `name` is a string.
    fn str_field(&self, name: &str) -> Option<String>;
    /// The field `name` if this is an object that has it.
    fn field(&self, name: &str) -> Option<Self>;
    /// Serialises the value as JSON text.
    fn stringify(&self) -> Option<String>;
    /// Parses JSON text.
    fn parse(text: &str) -> Option<Self>;

    /// JSON text of an object with string values (default: [`object`]).
    fn object_text(pairs: &[(&str, &str)]) -> String {
        object(pairs)
    }
    /// JSON text of an array of strings (default: [`string_array`]).
    fn array_text(items: &[&str]) -> String {
        string_array(items.iter().copied())
    }
    /// The strings of a JSON array of strings; `None` for anything else (default:
    /// [`parse_plain_string_array`]).
    fn parse_strings(text: &str) -> Option<Vec<String>> {
        parse_plain_string_array(text)
    }
}

/// Appends `s` as a JSON string literal: `"` and `\\` escaped with a backslash, control characters
/// as `\\u00XX`. (Byte-wise, copying unescaped runs whole: no `char` decoding or encoding code in
/// the wasm.)
pub fn push_str_literal(out: &mut String, s: &str) {
    const HEX: &str = "0123456789abcdef";
    out.push_str("\"");
    let mut start = 0;
    for (i, &b) in s.as_bytes().iter().enumerate() {
        if b >= 0x20 && b != b'"' && b != b'\\' {
            continue;
        }
        // `start..i` ends before an ASCII byte, so it is a char boundary.
        out.push_str(s.get(start..i).unwrap_or_default());
        if b < 0x20 {
            let (hi, lo) = (usize::from(b >> 4), usize::from(b & 15));
            out.push_str("\\u00");
            out.push_str(HEX.get(hi..=hi).unwrap_or_default());
            out.push_str(HEX.get(lo..=lo).unwrap_or_default());
        } else {
            out.push_str("\\");
            out.push_str(if b == b'"' { "\"" } else { "\\" });
        }
        start = i + 1;
    }
    out.push_str(s.get(start..).unwrap_or_default());
    out.push_str("\"");
}

/// A JSON object with string values: `{"k":"v",…}`.
pub fn object(pairs: &[(&str, &str)]) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push_str(",");
        }
        push_str_literal(&mut out, k);
        out.push_str(":");
        push_str_literal(&mut out, v);
    }
    out.push_str("}");
    out
}

/// A JSON array of strings.
pub fn string_array<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::from("[");
    for (i, s) in items.into_iter().enumerate() {
        if i > 0 {
            out.push_str(",");
        }
        push_str_literal(&mut out, s);
    }
    out.push_str("]");
    out
}

/// Parses what [`string_array`] writes for strings without escapes (user ids are 24 hex digits).
/// Anything else yields `None`, which the caller treats as corrupt storage. (A byte scanner: `str`'s
/// pattern and `char` machinery costs far more in the wasm.)
pub fn parse_plain_string_array(text: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    // 0: before `[`; 1: after `[` (item or `]`); 2: in a string; 3: after an item (`,` or `]`);
    // 4: after `,` (an item must follow); 5: after `]`.
    let mut state = 0u8;
    let mut start = 0;
    for (i, &b) in text.as_bytes().iter().enumerate() {
        let space = matches!(b, b' ' | b'\t' | b'\n' | b'\r');
        state = match (state, b) {
            (2, b'"') => {
                out.push(String::from(text.get(start..i)?));
                3
            }
            (2, b'\\') => return None,
            (2, _) => 2,
            (_, _) if space => state,
            (0, b'[') => 1,
            (1 | 4, b'"') => {
                start = i + 1;
                2
            }
            (1 | 3, b']') => 5,
            (3, b',') => 4,
            _ => return None,
        };
    }
    (state == 5).then_some(out)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn objects_are_valid_json_for_any_string() {
        let nasty = "a\"b\\c\nd\u{1}e\u{e9}\u{1F600}";
        let text = object(&[("username", nasty), ("password", "p\tw")]);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["username"], nasty);
        assert_eq!(v["password"], "p\tw");
        assert_eq!(object(&[]), "{}");
        assert_eq!(
            object(&[("k", "a\"\\\n\u{1f}\u{e9}")]),
            "{\"k\":\"a\\\"\\\\\\u000a\\u001f\u{e9}\"}"
        );
    }

    #[test]
    fn string_arrays_round_trip() {
        let ids = ["5eb5931548d79bc784adf46e", "000000000000000000000001"];
        let text = string_array(ids);
        assert_eq!(
            serde_json::from_str::<Vec<String>>(&text).unwrap(),
            ids.to_vec()
        );
        assert_eq!(parse_plain_string_array(&text).unwrap(), ids.to_vec());
        assert_eq!(
            parse_plain_string_array("[]").unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(parse_plain_string_array("not json"), None);
        assert_eq!(parse_plain_string_array("[1,2]"), None);
        assert_eq!(parse_plain_string_array(r#"["a\"b"]"#), None);
        assert_eq!(
            parse_plain_string_array(" [ \"a\" ,\n\"b\" ] ").unwrap(),
            ["a", "b"]
        );
        for bad in [
            "",
            "[",
            "[\"a\"",
            "[\"a\",]",
            "[,\"a\"]",
            "[\"a\"\"b\"]",
            "[\"a\"]x",
            "[]]",
        ] {
            assert_eq!(parse_plain_string_array(bad), None, "{bad}");
        }
    }
}
