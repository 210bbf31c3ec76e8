//! What sampling saw in a column: the evidence a promotion is proposed on
//! (a source whose declared types do not say what is stored, like SQLite's).

use crate::temporal;

/// What sampling saw in one column (SQLite sources).
#[derive(Debug, Default, Clone)]
pub struct ColumnSample {
    pub non_null: u64,
    pub texts: u64,
    pub integers: u64,
    pub zero_one: u64,
    pub dates: u64,
    pub timestamps: u64,
    pub timestamptzs: u64,
    pub json_docs: u64,
}

impl ColumnSample {
    /// Records one sampled value: text (as bytes) or an integer.
    pub fn text(&mut self, s: &[u8]) {
        self.non_null += 1;
        self.texts += 1;
        let Ok(s) = std::str::from_utf8(s) else {
            return;
        };
        if temporal::parse_date(s).is_some() {
            self.dates += 1;
        } else if temporal::parse_timestamp(s).is_some() {
            self.timestamps += 1;
        } else if temporal::parse_timestamptz(s).is_some() {
            self.timestamptzs += 1;
        } else if (s.starts_with('{') || s.starts_with('['))
            && serde_json::from_str::<serde::de::IgnoredAny>(s).is_ok()
        {
            self.json_docs += 1;
        }
    }

    pub fn integer(&mut self, i: i64) {
        self.non_null += 1;
        self.integers += 1;
        if i == 0 || i == 1 {
            self.zero_one += 1;
        }
    }

    pub fn other(&mut self) {
        self.non_null += 1;
    }
}
