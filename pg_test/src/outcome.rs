//! What a statement did, in full: its SQLSTATE, its row count and every field of its error, comparable after replacing the ids it names.

use tokio_postgres::Client;

/// What a statement did: its SQLSTATE ("00000" on success), the rows it
/// returned or affected, and the full shape of its error.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub state: String,
    pub rows: u64,
    pub error: Option<ErrorShape>,
}

impl Outcome {
    pub fn ok(rows: u64) -> Self {
        Outcome {
            state: "00000".into(),
            rows,
            error: None,
        }
    }
    pub fn from_error(e: &tokio_postgres::Error) -> Self {
        let shape = ErrorShape::of(e);
        Outcome {
            state: shape.code.clone(),
            rows: 0,
            error: Some(shape),
        }
    }
    pub fn is_error(&self) -> bool {
        self.error.is_some()
    }
    pub fn describe(&self) -> String {
        match &self.error {
            None => format!("00000 ({} rows)", self.rows),
            Some(e) => format!("{}: {}", e.code, e.message),
        }
    }
}

/// Every field of an error the server reports, so that two errors can be
/// compared exactly (after replacing the ids they name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorShape {
    pub code: String,
    pub message: String,
    /// code, message, detail, hint, position, context, schema, table,
    /// column, datatype, constraint, file, line, routine.
    pub fields: Vec<String>,
}

impl ErrorShape {
    pub fn of(e: &tokio_postgres::Error) -> Self {
        match e.as_db_error() {
            Some(db) => {
                let opt = |s: Option<&str>| s.unwrap_or("").to_string();
                let position = match db.position() {
                    Some(tokio_postgres::error::ErrorPosition::Original(p)) => format!("{p}"),
                    Some(tokio_postgres::error::ErrorPosition::Internal { position, query }) => {
                        format!("{position} in {query}")
                    }
                    None => String::new(),
                };
                ErrorShape {
                    code: db.code().code().to_string(),
                    message: db.message().to_string(),
                    fields: vec![
                        db.code().code().to_string(),
                        db.message().to_string(),
                        opt(db.detail()),
                        opt(db.hint()),
                        position,
                        opt(db.where_()),
                        opt(db.schema()),
                        opt(db.table()),
                        opt(db.column()),
                        opt(db.datatype()),
                        opt(db.constraint()),
                        opt(db.file()),
                        db.line().map(|l| l.to_string()).unwrap_or_default(),
                        opt(db.routine()),
                    ],
                }
            }
            None => ErrorShape {
                code: "connection".into(),
                message: e.to_string(),
                fields: vec!["connection".into(), e.to_string()],
            },
        }
    }
    /// All fields joined, with each `(needle, placeholder)` replaced.
    pub fn normalized(&self, replacements: &[(&str, &str)]) -> String {
        let mut s = self.fields.join(" | ");
        for (needle, placeholder) in replacements {
            if !needle.is_empty() {
                s = s.replace(needle, placeholder);
            }
        }
        s
    }
}

/// Runs one statement (simple protocol, no parameters) and returns its
/// outcome, counting returned or affected rows.
pub async fn outcome(c: &Client, sql: &str) -> Outcome {
    match c.simple_query(sql).await {
        Ok(messages) => {
            let mut rows = 0u64;
            let mut affected = 0u64;
            for m in messages {
                match m {
                    tokio_postgres::SimpleQueryMessage::Row(_) => rows += 1,
                    tokio_postgres::SimpleQueryMessage::CommandComplete(n) => affected = n,
                    _ => {}
                }
            }
            Outcome::ok(rows.max(affected))
        }
        Err(e) => Outcome::from_error(&e),
    }
}

/// The SQLSTATE of an error, or "connection" when there is none (the
/// connection failed).
pub fn state_of_error(e: &tokio_postgres::Error) -> String {
    e.code()
        .map(|c| c.code().to_string())
        .unwrap_or_else(|| "connection".into())
}

/// Shortens an input for a report: its first characters, escaped, and its size.
pub fn preview(s: &str) -> String {
    let head: String = s.chars().take(120).collect();
    if head.len() == s.len() {
        format!("{head:?}")
    } else {
        format!("{head:?}… ({} bytes)", s.len())
    }
}
