//! The current user's workspaces, and their effective role in each, kept per
//! backend: row-level security costs a binary search per row instead of
//! reading `support.workspace_members` per statement, and the write checks
//! (`workspace_role`) read the role without a query.
//!
//! # Why a cached set is never stale
//!
//! Every change to a user's memberships (insert, delete, a role change, a row
//! moved to another user or workspace, TRUNCATE; the user's kind; support
//! staff rows and the workspaces that allow staff) also writes that user's row of
//! `support.membership_versions` in the same transaction (the `*_version`
//! triggers, sql/20_triggers.sql): a fresh value of a sequence; TRUNCATE
//! writes a new epoch (the nil user's row), part of every stamp. Sequence
//! values never repeat,
//! even after a rollback. So under one snapshot, the **stamp** (the version
//! row as that snapshot sees it, and the version table's OID, which changes
//! if the extension is dropped and created again) determines the membership
//! set: two snapshots that see the same stamp see the same memberships. The
//! set is loaded together with its stamp, under the same (active) snapshot.
//!
//! Before the set is used, its stamp is re-read under the active snapshot
//! unless that snapshot is **the same** as the one it was last checked
//! under: the same xmin, xmax, in-progress transaction ids (and
//! subtransaction ids), the same transaction id of our own (none while the
//! transaction has written nothing), the same command id and the same current
//! subtransaction (a savepoint rolled back after a write and reads may leave
//! the command id unchanged; its subtransaction is gone). Two such
//! snapshots see exactly the same rows: a transaction below xmax and not in
//! progress had completed when the snapshot was taken, so its outcome is
//! fixed; our own writes are told apart by the command id (which never goes
//! back within a transaction) and by the subtransaction they were made in
//! (ids are never reused within a transaction). The check is a comparison of
//! a few integers and two short arrays, once per row a policy checks.
//!
//! This holds under every isolation level: READ COMMITTED takes a snapshot per
//! statement, so a membership removed by another session's commit is gone at
//! the next statement; REPEATABLE READ and SERIALIZABLE keep one snapshot, so
//! the set stays the one that snapshot sees, as every other read does. The
//! user is part of the key: a new identity is a miss.

use std::cell::RefCell;
use std::rc::Rc;

use pgrx::prelude::*;

use crate::errors::Result;
use crate::lifecycle::model::Role;
use crate::unguarded;

/// What a snapshot sees of the user's memberships (see the module docs).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Stamp {
    table: u32,
    version: Option<i64>,
    /// The version row of the nil user: bumped by every TRUNCATE.
    epoch: Option<i64>,
}

/// A snapshot, as far as visibility goes (see the module docs).
#[derive(Clone, PartialEq, Eq, Debug, Default)]
struct SnapshotKey {
    xmin: u32,
    xmax: u32,
    curcid: u32,
    own_xid: u32,
    /// The current subtransaction: a rolled-back savepoint may leave the
    /// command id where it was, never the subtransaction.
    subxact: u32,
    suboverflowed: bool,
    recovery: bool,
    xip: Vec<u32>,
    subxip: Vec<u32>,
}

impl SnapshotKey {
    /// The active snapshot's key (None without an active snapshot).
    fn active() -> Option<SnapshotKey> {
        let mut key = SnapshotKey::default();
        key.assign_active().then_some(key)
    }

    /// Is this the active snapshot's key? No allocation.
    fn is_active(&self) -> bool {
        // SAFETY: see `with_active`.
        unsafe {
            with_active(|s, own, xip, subxip| self.same(s, own, xip, subxip)).unwrap_or(false)
        }
    }

    fn same(&self, s: &pg_sys::SnapshotData, own: u32, xip: &[u32], subxip: &[u32]) -> bool {
        self.xmin == s.xmin.into_inner()
            && self.xmax == s.xmax.into_inner()
            && self.curcid == s.curcid
            && self.own_xid == own
            && self.subxact == subxact()
            && self.suboverflowed == s.suboverflowed
            && self.recovery == s.takenDuringRecovery
            && unguarded::same(&self.xip, xip)
            && unguarded::same(&self.subxip, subxip)
    }

    fn assign_active(&mut self) -> bool {
        // SAFETY: see `with_active`.
        unsafe {
            with_active(|s, own, xip, subxip| {
                self.xmin = s.xmin.into_inner();
                self.xmax = s.xmax.into_inner();
                self.curcid = s.curcid;
                self.own_xid = own;
                self.subxact = subxact();
                self.suboverflowed = s.suboverflowed;
                self.recovery = s.takenDuringRecovery;
                self.xip.clear();
                self.xip.extend_from_slice(xip);
                self.subxip.clear();
                self.subxip.extend_from_slice(subxip);
            })
            .is_some()
        }
    }
}

/// The current subtransaction's id (ids are never reused within a
/// transaction).
fn subxact() -> u32 {
    // SAFETY: reads the backend's transaction state; cannot raise.
    unsafe { unguarded::GetCurrentSubTransactionId() }
}

/// Calls `f` with the active snapshot, our transaction id (0: none yet) and
/// the snapshot's in-progress (sub)transaction ids.
///
/// SAFETY: reads the backend's own active snapshot, which stays valid for
/// the duration of the call; the arrays hold xcnt / subxcnt ids.
unsafe fn with_active<R>(
    f: impl FnOnce(&pg_sys::SnapshotData, u32, &[u32], &[u32]) -> R,
) -> Option<R> {
    if !unguarded::ActiveSnapshotSet() {
        return None;
    }
    let s = &*unguarded::GetActiveSnapshot();
    let ids = |p: *mut pg_sys::TransactionId, n: usize| -> &[u32] {
        if p.is_null() || n == 0 {
            &[]
        } else {
            std::slice::from_raw_parts(p.cast::<u32>(), n)
        }
    };
    let xip = ids(s.xip, s.xcnt as usize);
    let subxip = ids(s.subxip, usize::try_from(s.subxcnt).unwrap_or(0));
    let own = unguarded::GetTopTransactionIdIfAny().into_inner();
    Some(f(s, own, xip, subxip))
}

/// One user's workspaces under one stamp.
pub(crate) struct Members {
    /// The workspaces as 128-bit integers (big-endian: uuid order), sorted,
    /// for a binary search per row: no hashing (SipHash of 16 bytes cost more
    /// than the search up to 10,000 workspaces), nothing an id can be chosen
    /// to collide with.
    keys: Vec<u128>,
    /// The user's effective role in `keys[i]`.
    roles: Vec<Role>,
    /// The same workspaces as uuids (what `member_workspaces()` returns:
    /// btree's array-key sort then finds them sorted).
    sorted: Vec<pgrx::Uuid>,
}

struct Cached {
    user: pgrx::Uuid,
    stamp: Stamp,
    /// The snapshot the stamp was last checked under.
    checked: Option<SnapshotKey>,
    members: Rc<Members>,
}

impl Cached {
    /// `user`'s set, checked under the active snapshot: the same snapshot
    /// sees the same stamp, so the set holds as it is.
    fn holds_for(&self, user: pgrx::Uuid) -> bool {
        self.user == user && self.checked.as_ref().is_some_and(SnapshotKey::is_active)
    }
}

/// How many users' sets a backend keeps (most recently used first), and how
/// many workspaces in all: a pooled connection serves many users in turn, and
/// a returning user then pays one version read instead of loading the set.
const USERS: usize = 16;
const WORKSPACES: usize = 200_000;

thread_local! {
    static CACHED: RefCell<Vec<Cached>> = const { RefCell::new(Vec::new()) };
}

/// The OID of table `support.<name>`, None if it does not exist: between
/// installing a new library and `ALTER EXTENSION ... UPDATE`, the schema is
/// the previous version's (tables added in 0.4.0 are missing).
pub(crate) fn support_table(name: &std::ffi::CStr) -> Option<pg_sys::Oid> {
    // SAFETY: catalog look-ups by name; missing_ok.
    unsafe {
        let schema = pg_sys::get_namespace_oid(c"support".as_ptr(), true);
        if schema == pg_sys::InvalidOid {
            return None;
        }
        let table = pg_sys::get_relname_relid(name.as_ptr(), schema);
        (table != pg_sys::InvalidOid).then_some(table)
    }
}

/// `index_beginscan` for one scan key and no ordering, under the active
/// snapshot. PostgreSQL 18 added the instrumentation argument (none here).
///
/// # Safety
/// `heap` and `idx` are open; an active snapshot is set.
unsafe fn begin_scan(heap: pg_sys::Relation, idx: pg_sys::Relation) -> pg_sys::IndexScanDesc {
    #[cfg(not(feature = "pg18"))]
    {
        pg_sys::index_beginscan(heap, idx, pg_sys::GetActiveSnapshot(), 1, 0)
    }
    #[cfg(feature = "pg18")]
    {
        pg_sys::index_beginscan(
            heap,
            idx,
            pg_sys::GetActiveSnapshot(),
            std::ptr::null_mut(),
            1,
            0,
        )
    }
}

fn version_table() -> Option<pg_sys::Oid> {
    support_table(c"membership_versions")
}

/// `user`'s stamp under the active snapshot; None when there is no version
/// table to trust (an older schema: every call then loads the set) or no
/// active snapshot. One look-up in the version table's primary key, without
/// SPI: this runs whenever the snapshot changed since the last check, i.e.
/// once per statement on a database with writers.
fn read_stamp(user: pgrx::Uuid) -> Result<Option<Stamp>> {
    let (Some(table), Some(index)) = (version_table(), support_table(c"membership_versions_pkey"))
    else {
        return Ok(None);
    };
    // SAFETY: the relations exist (looked up just now) and are opened and
    // closed here; the scan key points at `user`, alive for the whole scan;
    // the slot holds the table's own descriptor, whose column 2 is `version`
    // (bigint, passed by value).
    unsafe {
        if !pg_sys::ActiveSnapshotSet() {
            return Ok(None);
        }
        let lock = pg_sys::AccessShareLock as pg_sys::LOCKMODE;
        let heap = pg_sys::table_open(table, lock);
        let idx = pg_sys::index_open(index, lock);
        let scan = begin_scan(heap, idx);
        let slot = pg_sys::table_slot_create(heap, std::ptr::null_mut());
        let lookup = |id: [u8; 16]| -> Option<i64> {
            let mut key: pg_sys::ScanKeyData = std::mem::zeroed();
            pg_sys::ScanKeyInit(
                &mut key,
                1,
                pg_sys::BTEqualStrategyNumber as u16,
                pg_sys::Oid::from(pg_sys::F_UUID_EQ),
                pg_sys::Datum::from(id.as_ptr()),
            );
            pg_sys::index_rescan(scan, &mut key, 1, std::ptr::null_mut(), 0);
            if !pg_sys::index_getnext_slot(scan, pg_sys::ScanDirection::ForwardScanDirection, slot)
            {
                return None;
            }
            pg_sys::slot_getsomeattrs_int(slot, 2);
            if *(*slot).tts_isnull.add(1) {
                None
            } else {
                Some((*(*slot).tts_values.add(1)).value() as i64)
            }
        };
        let version = lookup(*user.as_bytes());
        let epoch = lookup([0; 16]);
        pg_sys::ExecDropSingleTupleTableSlot(slot);
        pg_sys::index_endscan(scan);
        // Locks are kept to the end of the transaction, as the executor does.
        pg_sys::index_close(idx, pg_sys::NoLock as pg_sys::LOCKMODE);
        pg_sys::table_close(heap, pg_sys::NoLock as pg_sys::LOCKMODE);
        Ok(Some(Stamp {
            table: table.to_u32(),
            version,
            epoch,
        }))
    }
}

/// `user`'s workspaces and roles under the active snapshot. The only SQL the
/// cache runs, under a pinned search_path (the version read is an index
/// look-up by OID, which resolves no name).
fn load(user: pgrx::Uuid) -> Result<Members> {
    let mut rows = super::pinned(|| super::visible_workspaces_of(user))?;
    // By workspace, membership (rank 0) before staff service (rank 1).
    rows.sort_unstable_by(|a, b| (a.0.as_bytes(), a.1).cmp(&(b.0.as_bytes(), b.1)));
    rows.dedup_by(|later, first| later.0 == first.0);
    Ok(Members {
        keys: rows.iter().map(|(id, _, _)| key(id)).collect(),
        roles: rows.iter().map(|(_, _, role)| *role).collect(),
        sorted: rows.into_iter().map(|(id, _, _)| id).collect(),
    })
}

/// `user`'s workspaces as the active snapshot sees them, checking (and if
/// need be reloading) the cached set first. Callers are SECURITY DEFINER: the
/// SQL runs with the extension owner's rights, under a pinned search_path.
pub(crate) fn members(user: pgrx::Uuid) -> Result<Rc<Members>> {
    // The most recent user comes first (every row of a statement asks
    // again); another cached user when users take turns on a connection
    // with nothing committed in between.
    let cached = CACHED.with(|c| {
        let mut c = c.borrow_mut();
        let at = c.iter().position(|e| e.holds_for(user))?;
        if at > 0 {
            let entry = c.remove(at);
            c.insert(0, entry);
        }
        Some(c[0].members.clone())
    });
    match cached {
        Some(members) => Ok(members),
        None => refresh(user),
    }
}

/// Is `workspace` in `user`'s set, if that can be told from the most recent
/// entry alone, checked under this very snapshot (None: ask [`members`]).
/// Allocates nothing and raises nothing: the quick path of the policies'
/// per-row call.
pub(crate) fn contains_quick(user: pgrx::Uuid, workspace: &pgrx::Uuid) -> Option<bool> {
    CACHED
        .try_with(|c| {
            let c = c.try_borrow().ok()?;
            let e = c.first()?;
            e.holds_for(user).then(|| e.members.contains(workspace))
        })
        .ok()
        .flatten()
}

/// Re-checks the stamp; reloads the set when it changed.
fn refresh(user: pgrx::Uuid) -> Result<Rc<Members>> {
    // Take the user's entry out (forgotten if anything below fails).
    let entry = CACHED.with(|c| {
        let mut c = c.borrow_mut();
        let at = c.iter().position(|e| e.user == user)?;
        Some(c.remove(at))
    });
    let Some(stamp) = read_stamp(user)? else {
        // No versions to check against: a fresh set, cached for nobody.
        return Ok(Rc::new(load(user)?));
    };
    let checked = SnapshotKey::active();
    let members = match entry {
        Some(e) if e.stamp == stamp => e.members,
        _ => Rc::new(load(user)?),
    };
    CACHED.with(|c| {
        let mut c = c.borrow_mut();
        c.insert(
            0,
            Cached {
                user,
                stamp,
                checked,
                members: members.clone(),
            },
        );
        // Least recently used go first, beyond USERS users or WORKSPACES in all.
        let mut total = 0;
        let keep = c
            .iter()
            .take(USERS)
            .take_while(|e| {
                total += e.members.sorted.len();
                total <= WORKSPACES
            })
            .count()
            .max(1);
        c.truncate(keep);
    });
    Ok(members)
}

/// A uuid as an integer that sorts as the uuid does.
fn key(id: &pgrx::Uuid) -> u128 {
    u128::from_be_bytes(*id.as_bytes())
}

impl Members {
    pub(crate) fn contains(&self, workspace_id: &pgrx::Uuid) -> bool {
        self.keys.binary_search(&key(workspace_id)).is_ok()
    }

    /// The user's effective role in `workspace_id`, None when not visible.
    pub(crate) fn role(&self, workspace_id: &pgrx::Uuid) -> Option<Role> {
        let at = self.keys.binary_search(&key(workspace_id)).ok()?;
        self.roles.get(at).copied()
    }

    pub(crate) fn sorted(&self) -> &[pgrx::Uuid] {
        &self.sorted
    }
}
