//! conversations_ext on a Citus cluster (docs/scale-out.md, sql/60_citus.sql):
//! what the Rust code does differently once `support.distribute()` ran.
//!
//! **Membership reads.** On a Citus cluster the membership tables (`users`, `workspaces`,
//! `workspace_members`, `staff`, `staff_workspaces`) are reference tables:
//! every node holds a full copy, its "placement", a plain table named
//! `support.<table>_<shard id>`. The policies run where the shards are, inside
//! Citus's query on a shard, and there a query on the logical table would be
//! a nested distributed query, which Citus refuses. So the membership reads
//! read this node's placement directly: the same rows, no Citus machinery.
//! Every change to a reference table reaches every placement in the same
//! (two-phase) transaction, and the same transaction writes this node's
//! `support.membership_versions` (the triggers fire on each placement), so
//! the cache's version check is as sound as on a single server.
//!
//! Without Citus, or before `support.distribute()`, the statements are run as
//! written.
//!
//! **Lifecycle functions.** They run where the application calls them (the
//! coordinator) and their statements are routed to the shard of the
//! conversation's workspace: [`workspace_of`] finds it for the functions
//! that take a conversation id alone, and the UPDATE that makes the change
//! carries its audit record (`support.lifecycle_mark`, evaluated with the
//! row on the node holding it), since the audit trigger fires there, not in
//! the coordinator's backend.

use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::Rc;

use pgrx::prelude::*;

use crate::errors::Result;
use crate::plans::{self, column};

/// This node's placement of each support reference table: (table name,
/// qualified placement name).
const PLACEMENTS: &str = "\
    SELECT c.relname::pg_catalog.text, pg_catalog.shard_name(p.logicalrelid, s.shardid) \
      FROM pg_catalog.pg_dist_partition AS p \
      JOIN pg_catalog.pg_class AS c ON c.oid OPERATOR(pg_catalog.=) p.logicalrelid \
      JOIN pg_catalog.pg_dist_shard AS s ON s.logicalrelid OPERATOR(pg_catalog.=) p.logicalrelid \
     WHERE c.relnamespace OPERATOR(pg_catalog.=) 'support'::pg_catalog.regnamespace \
       AND p.partmethod OPERATOR(pg_catalog.=) 'n' \
       AND EXISTS (SELECT 1 FROM pg_catalog.pg_dist_placement AS pl \
                    WHERE pl.shardid OPERATOR(pg_catalog.=) s.shardid \
                      AND pl.groupid OPERATOR(pg_catalog.=) \
                          (SELECT g.groupid FROM pg_catalog.pg_dist_local_group AS g))";

/// Whether Citus's metadata exists in this database.
pub(crate) fn citus_present() -> bool {
    // SAFETY: a catalog look-up by name.
    unsafe {
        pg_sys::get_relname_relid(
            c"pg_dist_partition".as_ptr(),
            pg_sys::Oid::from(pg_sys::PG_CATALOG_NAMESPACE),
        ) != pg_sys::InvalidOid
    }
}

type Placements = Vec<(String, String)>;

/// What this node is, for this extension.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Node {
    /// No Citus, or `support.distribute()` has not run.
    Single,
    /// The coordinator of a cluster where the tables are distributed.
    Coordinator,
    /// A worker of such a cluster.
    Worker,
}

thread_local! {
    /// [`node`] as read in the transaction that started at the time given.
    static NODE: std::cell::Cell<Option<(pg_sys::TimestampTz, Node)>> =
        const { std::cell::Cell::new(None) };
}

/// What this node is (read once per transaction; [`Node::Single`] without
/// Citus, at the cost of one catalog look-up).
pub(crate) fn node() -> Result<Node> {
    if !citus_present() {
        return Ok(Node::Single);
    }
    // SAFETY: the current transaction's start time; always valid in one.
    let started = unsafe { pg_sys::GetCurrentTransactionStartTimestamp() };
    if let Some((at, node)) = NODE.with(|d| d.get()) {
        if at == started {
            return Ok(node);
        }
    }
    let node = plans::run(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition AS p \
                         WHERE p.logicalrelid OPERATOR(pg_catalog.=) 'support.conversations'::pg_catalog.regclass), \
                COALESCE((SELECT g.groupid OPERATOR(pg_catalog.=) 0 FROM pg_catalog.pg_dist_local_group AS g), true)",
        &[],
        false,
        &[],
        |mut rows| {
            let Some(row) = rows.next() else {
                return Ok(Node::Single);
            };
            let distributed: bool = column(&row, 1, "distributed")?;
            let coordinator: bool = column(&row, 2, "coordinator")?;
            Ok(match (distributed, coordinator) {
                (false, _) => Node::Single,
                (true, true) => Node::Coordinator,
                (true, false) => Node::Worker,
            })
        },
    )?;
    NODE.with(|d| d.set(Some((started, node))));
    Ok(node)
}

/// Whether `support.distribute()` made support.conversations a distributed
/// table (false without Citus).
pub(crate) fn distributed() -> Result<bool> {
    Ok(node()? != Node::Single)
}

/// The workspace of conversation `id` among `visible` (the caller's
/// workspaces), None when there is none: the id alone does not say which
/// shard holds it, so Citus probes the index of every shard that holds one of
/// those workspaces (all shards, for a member of many). Not locked: the
/// caller then locks the row on its shard, and a conversation never changes
/// workspace.
pub(crate) fn workspace_of(id: pgrx::Uuid, visible: Vec<pgrx::Uuid>) -> Result<Option<pgrx::Uuid>> {
    const UUIDS: pgrx::pg_sys::PgOid =
        pgrx::pg_sys::PgOid::BuiltIn(pg_sys::BuiltinOid::UUIDARRAYOID);
    plans::run(
        "SELECT c.workspace_id FROM support.conversations AS c \
          WHERE c.id OPERATOR(pg_catalog.=) $1 \
            AND c.workspace_id OPERATOR(pg_catalog.=) ANY ($2) LIMIT 1",
        &[plans::UUID1[0], UUIDS],
        false,
        &[id.into(), visible.into()],
        |mut rows| match rows.next() {
            Some(row) => Ok(Some(column(&row, 1, "conversations.workspace_id")?)),
            None => Ok(None),
        },
    )
}

thread_local! {
    /// The placements as read in the transaction that started at the time
    /// given (they change only when a table is distributed again).
    static PLACED: RefCell<Option<(pg_sys::TimestampTz, Rc<Placements>)>> =
        const { RefCell::new(None) };
}

/// This node's placements, read once per transaction.
fn placements() -> Result<Rc<Placements>> {
    // SAFETY: the current transaction's start time; always valid in one.
    let started = unsafe { pg_sys::GetCurrentTransactionStartTimestamp() };
    if let Some(p) = PLACED.with(|p| {
        p.borrow()
            .as_ref()
            .filter(|(at, _)| *at == started)
            .map(|(_, p)| Rc::clone(p))
    }) {
        return Ok(p);
    }
    let read = Rc::new(plans::run(PLACEMENTS, &[], false, &[], |rows| {
        let mut out = Vec::new();
        for row in rows {
            let table: String = column(&row, 1, "reference table")?;
            let shard: String = column(&row, 2, "placement")?;
            out.push((table, shard));
        }
        Ok(out)
    })?);
    PLACED.with(|p| *p.borrow_mut() = Some((started, Rc::clone(&read))));
    Ok(read)
}

/// `sql` with every `support.<table> AS` that names a reference table with a
/// placement on this node replaced by that placement. Only the membership
/// reads go through this (they name no distributed table).
fn localized(sql: &str) -> Result<Cow<'_, str>> {
    if !citus_present() {
        return Ok(Cow::Borrowed(sql));
    }
    let mut sql = Cow::Borrowed(sql);
    for (table, shard) in placements()?.iter() {
        let logical = format!("support.{table} AS ");
        if sql.contains(&logical) {
            sql = Cow::Owned(sql.replace(&logical, &format!("{shard} AS ")));
        }
    }
    Ok(sql)
}

/// [`plans::run`] of a membership read, against this node's placements on
/// Citus.
pub(crate) fn membership_read<R>(
    sql: &str,
    types: &[pgrx::pg_sys::PgOid],
    mutating: bool,
    args: &[pgrx::datum::DatumWithOid],
    f: impl FnOnce(pgrx::spi::SpiTupleTable) -> Result<R>,
) -> Result<R> {
    let sql = localized(sql)?;
    plans::run(&sql, types, mutating, args, f)
}
