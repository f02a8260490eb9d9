//! The records of an export file, each with where it stands (`record N (line L)`, the line where the record
//! itself begins, also inside an array), and a counter of the work done shown on a terminal.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use serde_json::value::RawValue;
use serde_json::Value;

use super::Result;
use crate::words::count;

/// One record of the file and where it stands.
pub(super) struct Record {
    /// `record N (line L)`.
    pub(super) at: String,
    pub(super) value: Value,
}

/// Line numbers of byte offsets met in increasing order (counting from the start each time would be
/// quadratic).
struct Lines<'a> {
    text: &'a str,
    counted_to: usize,
    line: usize,
}

impl Lines<'_> {
    /// The line of `json`, a slice of the text.
    fn of(&mut self, json: &str) -> usize {
        let offset = (json.as_ptr() as usize)
            .saturating_sub(self.text.as_ptr() as usize)
            .min(self.text.len());
        if offset >= self.counted_to {
            self.line += self.text[self.counted_to..offset].matches('\n').count();
            self.counted_to = offset;
        }
        self.line
    }
}

/// The records of a file: every top-level JSON value in turn — an array is a page of users, an object one
/// user (JSON lines, or pages concatenated). `progress` counts the records read.
pub(super) fn records(text: &str, progress: &mut Progress) -> Result<Vec<Record>> {
    let mut lines = Lines {
        text,
        counted_to: 0,
        line: 1,
    };
    let mut out = Vec::new();
    let mut push = |raw: &RawValue, lines: &mut Lines<'_>| -> Result {
        let at = format!("record {} (line {})", out.len() + 1, lines.of(raw.get()));
        let value = serde_json::from_str(raw.get()).map_err(|e| format!("{at}: not JSON: {e}"))?;
        out.push(Record { at, value });
        progress.tick(out.len());
        Ok(())
    };
    // Each value is first read as raw text (checked JSON, borrowed from the file), so that the records of an
    // array keep their own place in the file.
    for value in serde_json::Deserializer::from_str(text).into_iter::<&RawValue>() {
        let value = value.map_err(|e| format!("not JSON: {e}"))?;
        match value.get().as_bytes().first() {
            Some(b'[') => {
                let users: Vec<&RawValue> = serde_json::from_str(value.get())?;
                for user in users {
                    push(user, &mut lines)?;
                }
            }
            Some(b'{') => push(value, &mut lines)?,
            _ => {
                let line = lines.of(value.get());
                let found: Value = serde_json::from_str(value.get())?;
                return Err(format!(
                    "line {line}: expected a user object or an array of them, found {}",
                    kind(&found)
                )
                .into());
            }
        }
    }
    Ok(out)
}

pub(super) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A counter on standard error, rewritten at most once a second — only when standard error is a terminal
/// (piped or redirected output stays the report alone).
pub(super) struct Progress {
    shown: bool,
    on: bool,
    /// What is counted, singular and plural ("record read", "records read").
    label: (&'static str, &'static str),
    last: Instant,
}

impl Progress {
    /// A counter of `label` (singular, plural), shown if standard error is a terminal.
    pub(super) fn new(label: (&'static str, &'static str)) -> Progress {
        Progress {
            shown: false,
            on: std::io::stderr().is_terminal(),
            label,
            last: Instant::now(),
        }
    }

    /// `n` done so far.
    pub(super) fn tick(&mut self, n: usize) {
        if self.on && self.last.elapsed() >= Duration::from_secs(1) {
            self.last = Instant::now();
            self.shown = true;
            let done = count(n as u64, self.label.0, self.label.1);
            let _ = write!(std::io::stderr(), "\r{done}…");
        }
    }

    /// Clears the counter's line (before the report).
    pub(super) fn clear(&mut self) {
        if self.shown {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
            self.shown = false;
        }
    }
}

/// Says on standard error, when it is a terminal, what the import starts doing (`what…`): a step that may take
/// a while on a large file.
pub(super) fn say(what: &str) {
    if std::io::stderr().is_terminal() {
        let _ = writeln!(std::io::stderr(), "{what}…");
    }
}
