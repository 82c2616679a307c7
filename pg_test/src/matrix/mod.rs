//! The permission matrix, docs/permissions.tsv, read at run time: the single source of truth for who may do what.
//!
//! Used by tests/permissions.rs (every cell as a real role, with the
//! fixture and plans of this module) and by the reference model.
//!
//! Format: lines starting with `#` are comments; the first other line is the
//! header `action owner admin agent viewer bot staff what`; then one row per
//! action. A cell is `ok`, the SQLSTATE of the refusal, or `-` (not
//! applicable: the action's precondition cannot be set up for the subject,
//! e.g. a claim held by a support staff user who is not a member).
use std::collections::BTreeMap;
use std::path::PathBuf;

pub mod cells;
pub mod fixture;
pub mod plans;

/// The subjects (columns), in the file's order. The first five are members
/// of the workspace; `staff` is a support staff user who is not (see the
/// file's header).
pub const SUBJECTS: [&str; 6] = ["owner", "admin", "agent", "viewer", "bot", "staff"];

/// The cell of an action that cannot be performed by the subject.
pub const NOT_APPLICABLE: &str = "-";

#[derive(Clone, Debug)]
pub struct Action {
    pub id: String,
    /// One cell per subject, in `SUBJECTS` order.
    pub cells: Vec<String>,
    pub what: String,
}

#[derive(Clone, Debug)]
pub struct Matrix {
    pub actions: Vec<Action>,
    index: BTreeMap<String, usize>,
}

/// docs/permissions.tsv of this checkout; `CX_PERMISSIONS_TSV` names another
/// file (the tests' self-test: a matrix with a wrong cell must fail them).
pub fn path() -> PathBuf {
    match std::env::var_os("CX_PERMISSIONS_TSV") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/permissions.tsv"),
    }
}

impl Matrix {
    /// Reads and checks docs/permissions.tsv (panics on a malformed file).
    pub fn load() -> Matrix {
        let p = path();
        let text =
            std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
        Matrix::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    pub fn parse(text: &str) -> Result<Matrix, String> {
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.starts_with('#') && !l.trim().is_empty());
        let (_, header) = lines.next().ok_or("no header row")?;
        let expected: Vec<&str> = std::iter::once("action")
            .chain(SUBJECTS)
            .chain(std::iter::once("what"))
            .collect();
        let got: Vec<&str> = header.split('\t').collect();
        if got != expected {
            return Err(format!("header is {got:?}, expected {expected:?}"));
        }
        let mut actions = Vec::new();
        let mut index = BTreeMap::new();
        for (n, line) in lines {
            let fields: Vec<&str> = line.split('\t').collect();
            if fields.len() != expected.len() {
                return Err(format!(
                    "line {}: {} fields, expected {}",
                    n + 1,
                    fields.len(),
                    expected.len()
                ));
            }
            for cell in &fields[1..=SUBJECTS.len()] {
                let valid = *cell == "ok"
                    || *cell == NOT_APPLICABLE
                    || (cell.len() == 5 && cell.chars().all(|c| c.is_ascii_alphanumeric()));
                if !valid {
                    return Err(format!(
                        "line {}: cell {cell:?} is neither ok, a SQLSTATE nor -",
                        n + 1
                    ));
                }
            }
            let id = fields[0].to_string();
            if index.insert(id.clone(), actions.len()).is_some() {
                return Err(format!("line {}: action {id} appears twice", n + 1));
            }
            actions.push(Action {
                id,
                cells: fields[1..=SUBJECTS.len()]
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
                what: fields[SUBJECTS.len() + 1].to_string(),
            });
        }
        Ok(Matrix { actions, index })
    }

    pub fn action(&self, id: &str) -> &Action {
        let i = self
            .index
            .get(id)
            .unwrap_or_else(|| panic!("docs/permissions.tsv has no action {id}"));
        &self.actions[*i]
    }

    /// The cell of `action` for `subject` (`ok`, a SQLSTATE or `-`).
    pub fn cell(&self, action: &str, subject: &str) -> &str {
        let s = SUBJECTS
            .iter()
            .position(|x| *x == subject)
            .unwrap_or_else(|| panic!("no subject {subject}"));
        &self.action(action).cells[s]
    }

    /// The SQLSTATE the matrix gives `subject` for `action` ("00000":
    /// allowed). Panics on a `-` cell: whoever asks has set up a situation
    /// the matrix says cannot exist.
    pub fn sqlstate(&self, action: &str, subject: &str) -> &'static str {
        match self.cell(action, subject) {
            "ok" => "00000",
            NOT_APPLICABLE => panic!(
                "docs/permissions.tsv: {action} x {subject} is `-` (not applicable), yet it was asked for"
            ),
            other => Box::leak(other.to_string().into_boxed_str()),
        }
    }

    pub fn allows(&self, action: &str, subject: &str) -> bool {
        self.cell(action, subject) == "ok"
    }
}

/// The effective subject (matrix column) of a member: a bot with a role other
/// than viewer acts as `bot`; otherwise its workspace role.
pub fn subject_of(kind: &str, role: &str) -> &'static str {
    match (kind, role) {
        (_, "viewer") => "viewer",
        ("bot", _) => "bot",
        (_, "owner") => "owner",
        (_, "admin") => "admin",
        (_, "agent") => "agent",
        _ => panic!("unknown role {role}"),
    }
}

/// The column of a support staff user in a workspace that allows staff and
/// that they serve without being a member (docs/permissions.tsv's header).
pub const STAFF: &str = "staff";

/// What `support.workspace_role()` answers such a staff user: they "act in it
/// as a viewer until they join it" (docs/permissions.tsv's header). Once
/// joined they are a member, and `subject_of` their staff role applies.
pub const STAFF_ACTS_AS: &str = "viewer";
