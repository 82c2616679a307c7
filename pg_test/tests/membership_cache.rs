//! The per-backend membership cache behind the policies (0.4.0), against its
//! written promise: "a member removed in one session loses access in another
//! session's next transaction, and, under READ COMMITTED, its next statement;
//! under REPEATABLE READ / SERIALIZABLE the set stays the one the
//! transaction's snapshot sees". A change made in the reader's own
//! transaction (or a savepoint of it) counts exactly as far as that
//! transaction sees it; a new identity, TRUNCATE and a re-created extension
//! leave nothing of an earlier set behind; the identity is read at every
//! check.
//!
//! Every expected value below comes from that rule and the fixture (which
//! user is a member of which workspace, how many conversations each
//! workspace has), never from running the code. Every read goes through
//! several paths at once (see [`View`]): a per-row probe, the derived index
//! condition, a query that pins workspace_id, a generic plan of a prepared
//! statement, direct calls of workspace_member(), workspace_role() (the
//! cached role the write checks read) and member_workspaces(), and the
//! workspaces table; each check has a positive control (the same reader
//! sees the rows before the change, or sees the rows of a workspace it still
//! belongs to), so a zero is a real zero.

use pg_test::prelude::*;
use pg_test::roles::grant_usage;
use tokio_postgres::Client;

/// Three workspaces; how many conversations each holds.
const WS: [&str; 3] = [
    "0a000000-0000-4000-8000-0000000000a1",
    "0a000000-0000-4000-8000-0000000000a2",
    "0a000000-0000-4000-8000-0000000000a3",
];
const N: [i64; 3] = [3, 2, 4];
/// Owner of all three workspaces (removes and adds members through the
/// functions).
const O: &str = "0c000000-0000-4000-8000-0000000000c0";
/// The reader: member of WS[0] and WS[1].
const U: &str = "0c000000-0000-4000-8000-0000000000c1";
/// Another user: member of WS[2] only.
const V: &str = "0c000000-0000-4000-8000-0000000000c2";

/// The users, workspaces, memberships and conversations of the fixture, as
/// the superuser (who owns the tables: no RLS).
fn fixture_sql(memberships: &[(usize, &str)]) -> String {
    let mut sql = format!(
        "INSERT INTO support.users (id) VALUES ('{O}'), ('{U}'), ('{V}');
         INSERT INTO support.workspaces (id, name) VALUES ('{}', 'w1'), ('{}', 'w2'), ('{}', 'w3');\n",
        WS[0], WS[1], WS[2]
    );
    for ws in WS {
        sql.push_str(&format!(
            "INSERT INTO support.workspace_members (workspace_id, user_id, role) VALUES ('{ws}', '{O}', 'owner');\n"
        ));
    }
    for (w, user) in memberships {
        sql.push_str(&format!(
            "INSERT INTO support.workspace_members (workspace_id, user_id) VALUES ('{}', '{user}');\n",
            WS[*w]
        ));
    }
    for (w, n) in N.iter().enumerate() {
        sql.push_str(&format!(
            "INSERT INTO support.conversations (workspace_id, subject)
             SELECT '{}', 'w{} conversation ' || g FROM generate_series(1, {n}) AS g;\n",
            WS[w],
            w + 1
        ));
    }
    sql
}

/// A new database with the extension, the application role and the fixture
/// (U in WS[0] and WS[1], V in WS[2]); the superuser's connection.
async fn world(db: &str) -> Client {
    let c = empty_database(db).await;
    c.batch_execute(&fixture_sql(&[(0, U), (1, U), (2, V)]))
        .await
        .unwrap_or_else(|e| panic!("{db}: fixture: {e}"));
    c
}

/// PostgREST's way of naming the end user for the current transaction.
fn identity(user: &str) -> String {
    format!("SELECT set_config('request.jwt.claims', '{{\"sub\":\"{user}\"}}', true)")
}

/// Everything one reader sees of the three workspaces, each through several
/// read paths (each a statement of its own, in this order).
#[derive(Debug, Clone, PartialEq, Eq)]
struct View {
    /// Conversations per workspace, workspace_id not pinned (per-row probe).
    conversations: [i64; 3],
    /// The same with sequential scans off (the derived index condition
    /// `workspace_id = ANY (support.member_workspaces())`).
    by_index: [i64; 3],
    /// `WHERE workspace_id = <w>`, one sub-select per workspace.
    pinned: [i64; 3],
    /// The first statement again, prepared, under a forced generic plan.
    generic_plan: [i64; 3],
    /// `support.workspace_member(<w>)` called directly, on a constant.
    flags: [bool; 3],
    /// `support.workspace_role(<w>)` (the role the write checks use; every
    /// membership of the fixture is an agent's).
    roles: [Option<String>; 3],
    /// `support.member_workspaces()`, in uuid order.
    member_workspaces: Vec<String>,
    /// Rows of support.workspaces, in id order.
    workspaces: Vec<String>,
}

const COUNTS: &str = "SELECT count(*) FILTER (WHERE workspace_id = '0a000000-0000-4000-8000-0000000000a1'), \
                             count(*) FILTER (WHERE workspace_id = '0a000000-0000-4000-8000-0000000000a2'), \
                             count(*) FILTER (WHERE workspace_id = '0a000000-0000-4000-8000-0000000000a3') \
                        FROM support.conversations";

/// What a member of exactly the workspaces `members` (indexes into WS) sees.
fn expected(members: &[usize]) -> View {
    let counts: [i64; 3] = std::array::from_fn(|w| if members.contains(&w) { N[w] } else { 0 });
    let mut ids: Vec<String> = members.iter().map(|&w| WS[w].to_string()).collect();
    ids.sort();
    View {
        conversations: counts,
        by_index: counts,
        pinned: counts,
        generic_plan: counts,
        flags: std::array::from_fn(|w| members.contains(&w)),
        roles: std::array::from_fn(|w| members.contains(&w).then(|| "agent".to_string())),
        member_workspaces: ids.clone(),
        workspaces: ids,
    }
}

fn three(row: &tokio_postgres::Row) -> [i64; 3] {
    [row.get(0), row.get(1), row.get(2)]
}

async fn one(c: &Client, sql: &str) -> tokio_postgres::Row {
    c.query_one(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn exec(c: &Client, sql: &str) {
    c.batch_execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// What `c` sees now, inside its current transaction (which must be open and
/// act as the application role and some end user). The first statement is
/// the unpinned count: "the next statement" after another session's commit.
async fn view(c: &Client) -> View {
    let conversations = three(&one(c, COUNTS).await);
    exec(c, "SET LOCAL enable_seqscan = off").await;
    let by_index = three(&one(c, COUNTS).await);
    exec(c, "SET LOCAL enable_seqscan = on").await;
    let pinned = three(
        &one(
            c,
            &format!(
                "SELECT (SELECT count(*) FROM support.conversations WHERE workspace_id = '{}'), \
                        (SELECT count(*) FROM support.conversations WHERE workspace_id = '{}'), \
                        (SELECT count(*) FROM support.conversations WHERE workspace_id = '{}')",
                WS[0], WS[1], WS[2]
            ),
        )
        .await,
    );
    exec(c, "SET LOCAL plan_cache_mode = force_generic_plan").await;
    let prepared = c.prepare(COUNTS).await.unwrap();
    let generic_plan = three(&c.query_one(&prepared, &[]).await.unwrap());
    exec(c, "SET LOCAL plan_cache_mode = auto").await;
    let row = one(
        c,
        &format!(
            "SELECT support.workspace_member('{}'), support.workspace_member('{}'), support.workspace_member('{}')",
            WS[0], WS[1], WS[2]
        ),
    )
    .await;
    let flags = [row.get(0), row.get(1), row.get(2)];
    let row = one(
        c,
        &format!(
            "SELECT support.workspace_role('{}'), support.workspace_role('{}'), support.workspace_role('{}')",
            WS[0], WS[1], WS[2]
        ),
    )
    .await;
    let roles = [row.get(0), row.get(1), row.get(2)];
    let member_workspaces = texts(
        c,
        "SELECT x::text FROM unnest(support.member_workspaces()) AS x",
    )
    .await;
    let workspaces = texts(c, "SELECT id::text FROM support.workspaces ORDER BY id").await;
    View {
        conversations,
        by_index,
        pinned,
        generic_plan,
        flags,
        roles,
        member_workspaces,
        workspaces,
    }
}

/// Asserts that `c` (in an open transaction) sees exactly the workspaces
/// `members` (indexes into WS).
async fn sees(c: &Client, members: &[usize], what: &str) {
    let got = view(c).await;
    let want = expected(members);
    assert_eq!(
        got,
        want,
        "{what}: expected the view of a member of workspaces {:?} (conversations {:?})",
        members.iter().map(|w| WS[*w]).collect::<Vec<_>>(),
        want.conversations
    );
}

/// [`sees`] in a READ COMMITTED transaction of its own, as the application
/// role (SET LOCAL) and end user `user`.
async fn sees_in_new_transaction(c: &Client, user: &str, members: &[usize], what: &str) {
    exec(
        c,
        &format!("BEGIN; SET LOCAL ROLE {APP_ROLE}; {}", identity(user)),
    )
    .await;
    sees(c, members, what).await;
    exec(c, "COMMIT").await;
}

/// `sql` in a transaction of its own acting as the application role and end
/// user `user` (e.g. an owner calling support.remove_member).
async fn as_member(c: &Client, user: &str, sql: &str) {
    exec(
        c,
        &format!(
            "BEGIN; SET LOCAL ROLE {APP_ROLE}; {}; {sql}; COMMIT",
            identity(user)
        ),
    )
    .await;
}

fn delete_membership(w: usize, user: &str) -> String {
    format!(
        "DELETE FROM support.workspace_members WHERE workspace_id = '{}' AND user_id = '{user}'",
        WS[w]
    )
}

fn insert_membership(w: usize, user: &str) -> String {
    format!(
        "INSERT INTO support.workspace_members (workspace_id, user_id) VALUES ('{}', '{user}')",
        WS[w]
    )
}

// ------------------------------------------------------------------ 1

/// READ COMMITTED: another session's committed removal or addition shows at
/// the reader's next statement, inside the transaction that cached the set,
/// and in its next transaction.
#[tokio::test]
async fn read_committed_sees_a_change_at_the_next_statement() {
    let db = "cx_mcache_rc";
    let owner = world(db).await;
    let a = connect(db).await;

    // Removal through support.remove_member (the owner O, as the app role).
    exec(
        &a,
        &format!("BEGIN; SET LOCAL ROLE {APP_ROLE}; {}", identity(U)),
    )
    .await;
    sees(&a, &[0, 1], "RC: U before any change (positive control)").await;
    as_member(
        &owner,
        O,
        &format!("SELECT support.remove_member('{}', '{U}')", WS[0]),
    )
    .await;
    sees(
        &a,
        &[1],
        "RC: U's next statement after remove_member(W1, U) committed in another session",
    )
    .await;
    exec(&a, "COMMIT").await;
    sees_in_new_transaction(&a, U, &[1], "RC: U's next transaction after the removal").await;

    // Addition by the DBA (INSERT): the new workspace's rows at the next statement.
    exec(
        &a,
        &format!("BEGIN; SET LOCAL ROLE {APP_ROLE}; {}", identity(U)),
    )
    .await;
    sees(&a, &[1], "RC: U before the addition (positive control)").await;
    exec(&owner, &insert_membership(2, U)).await;
    sees(
        &a,
        &[1, 2],
        "RC: U's next statement after INSERT of (W3, U) committed in another session",
    )
    .await;
    exec(&a, "COMMIT").await;
    sees_in_new_transaction(
        &a,
        U,
        &[1, 2],
        "RC: U's next transaction after the addition",
    )
    .await;

    // Removal by the DBA (DELETE) and addition through support.add_member,
    // each inside one open transaction of the reader.
    exec(
        &a,
        &format!("BEGIN; SET LOCAL ROLE {APP_ROLE}; {}", identity(U)),
    )
    .await;
    sees(&a, &[1, 2], "RC: U before DELETE (positive control)").await;
    exec(&owner, &delete_membership(1, U)).await;
    sees(
        &a,
        &[2],
        "RC: U's next statement after DELETE of (W2, U) committed in another session",
    )
    .await;
    as_member(
        &owner,
        O,
        &format!("SELECT support.add_member('{}', '{U}')", WS[0]),
    )
    .await;
    sees(
        &a,
        &[0, 2],
        "RC: U's next statement after add_member(W1, U) committed in another session",
    )
    .await;
    exec(&a, "COMMIT").await;
    sees_in_new_transaction(&a, U, &[0, 2], "RC: U's next transaction").await;
    println!("membership cache, READ COMMITTED: removals and additions seen at the next statement and the next transaction");
}

// ------------------------------------------------------------------ 2

/// REPEATABLE READ / SERIALIZABLE: the set stays the one the transaction's
/// snapshot sees; the next transaction sees the change. A transaction whose
/// snapshot is taken after the change sees it, whatever an earlier
/// transaction of the same backend cached.
async fn snapshot_isolation(db: &str, level: &str) {
    let owner = world(db).await;
    let a = connect(db).await;
    let begin = format!(
        "BEGIN ISOLATION LEVEL {level}; SET LOCAL ROLE {APP_ROLE}; {}",
        identity(U)
    );

    // Removal during the transaction.
    exec(&a, &begin).await;
    sees(
        &a,
        &[0, 1],
        &format!("{level}: U before the removal (positive control)"),
    )
    .await;
    exec(&owner, &delete_membership(0, U)).await;
    sees(
        &a,
        &[0, 1],
        &format!("{level}: U's next statement in the same transaction after (W1, U) was deleted and committed (the snapshot's set)"),
    )
    .await;
    exec(&a, "COMMIT").await;
    exec(&a, &begin).await;
    sees(
        &a,
        &[1],
        &format!("{level}: U's next transaction after the removal"),
    )
    .await;
    exec(&a, "COMMIT").await;

    // Addition during the transaction.
    exec(&a, &begin).await;
    sees(
        &a,
        &[1],
        &format!("{level}: U before the addition (positive control)"),
    )
    .await;
    exec(&owner, &insert_membership(2, U)).await;
    sees(
        &a,
        &[1],
        &format!("{level}: U's next statement in the same transaction after (W3, U) was added (the snapshot's set)"),
    )
    .await;
    exec(&a, "COMMIT").await;
    exec(&a, &begin).await;
    sees(
        &a,
        &[1, 2],
        &format!("{level}: U's next transaction after the addition"),
    )
    .await;
    exec(&a, "COMMIT").await;

    // The set was cached by the previous transaction; the removal commits
    // after BEGIN but before this transaction's first statement that takes a
    // snapshot (SET takes none): the snapshot is taken after the removal.
    exec(
        &a,
        &format!(
            "BEGIN ISOLATION LEVEL {level}; SET LOCAL ROLE {APP_ROLE}; \
             SET LOCAL request.jwt.claims = '{{\"sub\":\"{U}\"}}'"
        ),
    )
    .await;
    exec(&owner, &delete_membership(2, U)).await;
    sees(
        &a,
        &[1],
        &format!("{level}: first statement of a transaction begun before, and snapshotted after, the removal of (W3, U)"),
    )
    .await;
    exec(&a, "COMMIT").await;
}

#[tokio::test]
async fn repeatable_read_keeps_the_snapshot_set_until_the_next_transaction() {
    snapshot_isolation("cx_mcache_rr", "REPEATABLE READ").await;
    println!("membership cache, REPEATABLE READ: the snapshot's set within the transaction, the change at the next");
}

#[tokio::test]
async fn serializable_keeps_the_snapshot_set_until_the_next_transaction() {
    snapshot_isolation("cx_mcache_serializable", "SERIALIZABLE").await;
    println!("membership cache, SERIALIZABLE: the snapshot's set within the transaction, the change at the next");
}

// ------------------------------------------------------------------ 3

/// A change made in the reader's own transaction counts from its next
/// statement; a rolled-back transaction or savepoint takes it back. (Whether
/// another test's commit lands between the change and the read varies; the
/// next test forces it.)
#[tokio::test]
async fn own_transaction_changes_and_rolled_back_savepoints() {
    let db = "cx_mcache_own_txn";
    let _owner = world(db).await;
    let c = connect(db).await;
    let app = format!("SET LOCAL ROLE {APP_ROLE}");

    // Removal in the transaction, then ROLLBACK: the next transaction has it back.
    exec(&c, &format!("BEGIN; {}; {app}", identity(U))).await;
    sees(
        &c,
        &[0, 1],
        "own transaction: U before the removal (positive control)",
    )
    .await;
    exec(
        &c,
        &format!("SET LOCAL ROLE NONE; {}; {app}", delete_membership(0, U)),
    )
    .await;
    sees(
        &c,
        &[1],
        "own transaction: U after its own transaction deleted (W1, U)",
    )
    .await;
    exec(&c, "ROLLBACK").await;
    sees_in_new_transaction(
        &c,
        U,
        &[0, 1],
        "next transaction after the removal was rolled back",
    )
    .await;

    // Removal inside a savepoint, rolled back to the savepoint.
    exec(&c, &format!("BEGIN; {}; {app}", identity(U))).await;
    sees(
        &c,
        &[0, 1],
        "savepoint: U before the removal (positive control)",
    )
    .await;
    exec(
        &c,
        &format!(
            "SET LOCAL ROLE NONE; SAVEPOINT s; {}; {app}",
            delete_membership(0, U)
        ),
    )
    .await;
    sees(
        &c,
        &[1],
        "savepoint: U after deleting (W1, U) inside the savepoint",
    )
    .await;
    exec(&c, &format!("ROLLBACK TO SAVEPOINT s; {app}")).await;
    sees(
        &c,
        &[0, 1],
        "savepoint: U after ROLLBACK TO SAVEPOINT (the removal is undone)",
    )
    .await;
    exec(&c, "COMMIT").await;
    sees_in_new_transaction(&c, U, &[0, 1], "savepoint: next transaction").await;

    // Addition inside a savepoint, rolled back to the savepoint.
    exec(&c, &format!("BEGIN; {}; {app}", identity(U))).await;
    sees(
        &c,
        &[0, 1],
        "savepoint: U before the addition (positive control)",
    )
    .await;
    exec(
        &c,
        &format!(
            "SET LOCAL ROLE NONE; SAVEPOINT s; {}; {app}",
            insert_membership(2, U)
        ),
    )
    .await;
    sees(
        &c,
        &[0, 1, 2],
        "savepoint: U after adding (W3, U) inside the savepoint",
    )
    .await;
    exec(&c, &format!("ROLLBACK TO SAVEPOINT s; {app}")).await;
    sees(
        &c,
        &[0, 1],
        "savepoint: U after ROLLBACK TO SAVEPOINT (the addition is undone)",
    )
    .await;
    exec(&c, "COMMIT").await;
    sees_in_new_transaction(&c, U, &[0, 1], "savepoint: next transaction").await;
    println!("membership cache, own transaction: removal and addition seen at once, undone by ROLLBACK and ROLLBACK TO SAVEPOINT");
}

/// The same savepoint case, with another session committing a transaction
/// (a newer transaction id than the savepoint's) between the change inside
/// the savepoint and the read that sees it. Nothing about that commit
/// changes what U may see; the rolled-back change must still not stick.
/// Repeated: other tests' commits in the cluster can only make the snapshots
/// differ more.
#[tokio::test]
async fn rolled_back_savepoint_does_not_stick_after_a_concurrent_commit() {
    let db = "cx_mcache_savepoint_race";
    let _owner = world(db).await;
    let c = connect(db).await;
    let other = connect(db).await;
    let app = format!("SET LOCAL ROLE {APP_ROLE}");
    let mut demoted = expected(&[0, 1]);
    demoted.roles[0] = Some("viewer".into());
    let changes = [
        (delete_membership(0, U), expected(&[1])),
        (insert_membership(2, U), expected(&[0, 1, 2])),
        (
            format!(
                "UPDATE support.workspace_members SET role = 'viewer' WHERE workspace_id = '{}' AND user_id = '{U}'",
                WS[0]
            ),
            demoted,
        ),
    ];
    let mut wrong = Vec::new();
    let rounds = 10;
    for round in 0..rounds {
        for (change, inside) in &changes {
            exec(&c, &format!("BEGIN; {}; {app}", identity(U))).await;
            sees(
                &c,
                &[0, 1],
                "savepoint race: U before the change (positive control)",
            )
            .await;
            exec(
                &c,
                &format!("SET LOCAL ROLE NONE; SAVEPOINT s; {change}; {app}"),
            )
            .await;
            // A transaction of another session, with a newer id, commits.
            exec(&other, "SELECT txid_current()").await;
            let got = view(&c).await;
            assert_eq!(
                &got, inside,
                "savepoint race: U after `{change}` inside the savepoint"
            );
            exec(&c, &format!("ROLLBACK TO SAVEPOINT s; {app}")).await;
            let got = view(&c).await;
            if got != expected(&[0, 1]) {
                wrong.push(format!(
                    "round {round}: after `{change}` in a savepoint and ROLLBACK TO SAVEPOINT: \
                     observed {got:?}, expected {:?}",
                    expected(&[0, 1])
                ));
            }
            exec(&c, "ROLLBACK").await;
        }
    }
    let total = rounds * changes.len();
    assert!(
        wrong.is_empty(),
        "{} of {total} rounds saw the rolled-back change:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    println!(
        "membership cache: {total} rolled-back savepoints with a concurrent commit, none stuck"
    );
}

/// The cache holds the effective role too (what the write checks read): a
/// role changed by another session counts from the reader's next statement
/// (docs/permissions.tsv: an agent creates conversations, a viewer may not:
/// 42501).
#[tokio::test]
async fn read_committed_sees_a_role_change_at_the_next_statement() {
    let db = "cx_mcache_role";
    let owner = world(db).await;
    let a = connect(db).await;
    let role = format!("SELECT support.workspace_role('{}')", WS[0]);
    let create = format!(
        "INSERT INTO support.conversations (workspace_id, subject) VALUES ('{}', 'by U') RETURNING id",
        WS[0]
    );
    let set_role = |r: &str| format!("SELECT support.set_member_role('{}', '{U}', '{r}')", WS[0]);
    let role_of = |row: tokio_postgres::Row| row.get::<_, Option<String>>(0);

    exec(
        &a,
        &format!("BEGIN; SET LOCAL ROLE {APP_ROLE}; {}", identity(U)),
    )
    .await;
    assert_eq!(
        role_of(one(&a, &role).await).as_deref(),
        Some("agent"),
        "positive control: U is an agent of W1"
    );
    let r = a.query(&create, &[]).await;
    assert_eq!(
        sqlstate(&r),
        "00000",
        "positive control: an agent creates a conversation: {r:?}"
    );
    as_member(&owner, O, &set_role("viewer")).await;
    assert_eq!(
        role_of(one(&a, &role).await).as_deref(),
        Some("viewer"),
        "U's next statement after set_member_role(W1, U, viewer) committed in another session"
    );
    let r = a.query(&create, &[]).await;
    assert_eq!(
        sqlstate(&r),
        "42501",
        "a viewer creates a conversation (next statement after the demotion): {r:?}"
    );
    exec(&a, "ROLLBACK").await;

    exec(
        &a,
        &format!("BEGIN; SET LOCAL ROLE {APP_ROLE}; {}", identity(U)),
    )
    .await;
    assert_eq!(
        role_of(one(&a, &role).await).as_deref(),
        Some("viewer"),
        "U's next transaction: still a viewer"
    );
    as_member(&owner, O, &set_role("agent")).await;
    assert_eq!(
        role_of(one(&a, &role).await).as_deref(),
        Some("agent"),
        "U's next statement after set_member_role(W1, U, agent) committed in another session"
    );
    let r = a.query(&create, &[]).await;
    assert_eq!(
        sqlstate(&r),
        "00000",
        "an agent again creates a conversation: {r:?}"
    );
    exec(&a, "COMMIT").await;
    println!(
        "membership cache: demotion and promotion by another session counted at the next statement"
    );
}

// ------------------------------------------------------------------ 4

/// One backend serving several end users in turn (a pooled connection), and
/// identity switched between the statements of one transaction.
#[tokio::test]
async fn identity_switch_on_one_backend() {
    let db = "cx_mcache_identity";
    let owner = world(db).await;
    let a = connect_app(db).await;
    let in_txn = |user: &str| format!("BEGIN; {}", identity(user));

    exec(&a, &in_txn(U)).await;
    sees(&a, &[0, 1], "pool: transaction 1 as U (positive control)").await;
    exec(&a, "COMMIT").await;
    exec(&a, &in_txn(V)).await;
    sees(&a, &[2], "pool: transaction 2 as V").await;
    exec(&a, "COMMIT").await;
    exec(&a, &in_txn(U)).await;
    sees(&a, &[0, 1], "pool: transaction 3 as U again").await;
    exec(&a, "COMMIT").await;
    exec(&a, "BEGIN").await;
    sees(&a, &[], "pool: transaction 4 with no identity (nobody)").await;
    exec(&a, "COMMIT").await;

    // U's set is changed while the backend serves V: back as U, the change.
    exec(&a, &in_txn(V)).await;
    sees(&a, &[2], "pool: V (positive control)").await;
    exec(&owner, &delete_membership(0, U)).await;
    sees(&a, &[2], "pool: V after U's removal from W1").await;
    exec(&a, "COMMIT").await;
    exec(&a, &in_txn(U)).await;
    sees(
        &a,
        &[1],
        "pool: U after its removal from W1 while the backend served V",
    )
    .await;
    exec(&a, "COMMIT").await;
    exec(&owner, &insert_membership(0, U)).await;

    // Within one transaction, between statements, through every identity setting.
    exec(&a, &in_txn(U)).await;
    sees(&a, &[0, 1], "one transaction: U").await;
    exec(&a, &identity(V)).await;
    sees(&a, &[2], "one transaction: then V (request.jwt.claims)").await;
    exec(&a, &identity(U)).await;
    sees(&a, &[0, 1], "one transaction: then U again").await;
    exec(
        &a,
        &format!(
            "SELECT set_config('request.jwt.claims', '', true); SET LOCAL support.user_id = '{V}'"
        ),
    )
    .await;
    sees(&a, &[2], "one transaction: then V (support.user_id)").await;
    exec(&a, &format!("SET LOCAL request.jwt.claim.sub = '{U}'")).await;
    sees(
        &a,
        &[0, 1],
        "one transaction: then U (request.jwt.claim.sub)",
    )
    .await;
    exec(
        &a,
        "SELECT set_config('request.jwt.claims', '{\"role\":\"anon\"}', true)",
    )
    .await;
    sees(
        &a,
        &[],
        "one transaction: then an anonymous request (nobody)",
    )
    .await;
    exec(&a, &identity(V)).await;
    sees(&a, &[2], "one transaction: then V again").await;
    exec(&a, "COMMIT").await;
    println!("membership cache: identity switched between transactions and between statements, each user saw exactly their own workspaces");
}

// ------------------------------------------------------------------ 5

/// TRUNCATE of the memberships (by cascade, the only way: conversations
/// reference them) after U's set was cached in another session: U sees
/// nothing, also of rows inserted after the TRUNCATE; a membership added
/// afterwards shows (positive control).
#[tokio::test]
async fn truncate_of_workspace_members_empties_a_cached_set() {
    let db = "cx_mcache_truncate";
    let owner = world(db).await;
    let a = connect(db).await;
    sees_in_new_transaction(&a, U, &[0, 1], "TRUNCATE: U before (positive control)").await;
    exec(&owner, "TRUNCATE support.workspace_members CASCADE").await;
    // New conversations in every workspace (nobody is a member of any).
    exec(&owner, &fixture_conversations()).await;
    sees_in_new_transaction(
        &a,
        U,
        &[],
        "TRUNCATE: U's next transaction after TRUNCATE workspace_members CASCADE",
    )
    .await;
    // In an open transaction: a membership added by another session shows at the next statement.
    exec(
        &a,
        &format!("BEGIN; SET LOCAL ROLE {APP_ROLE}; {}", identity(U)),
    )
    .await;
    sees(&a, &[], "TRUNCATE: U still in no workspace").await;
    exec(&owner, &insert_membership(1, U)).await;
    sees(
        &a,
        &[1],
        "TRUNCATE: U's next statement after (W2, U) was added (positive control)",
    )
    .await;
    exec(&a, "COMMIT").await;
    println!("membership cache: TRUNCATE workspace_members emptied a cached set");
}

/// The fixture's conversations again (after a TRUNCATE ... CASCADE removed them).
fn fixture_conversations() -> String {
    N.iter()
        .enumerate()
        .map(|(w, n)| {
            format!(
                "INSERT INTO support.conversations (workspace_id, subject)
                 SELECT '{}', 'again ' || g FROM generate_series(1, {n}) AS g;\n",
                WS[w]
            )
        })
        .collect()
}

/// TRUNCATE support.users CASCADE also truncates workspace_members (its
/// foreign key): every membership is gone. U, created again with no
/// membership, must see nothing of the workspaces (which the TRUNCATE left)
/// nor of conversations inserted afterwards.
#[tokio::test]
async fn truncate_of_users_cascade_empties_a_cached_set() {
    let db = "cx_mcache_truncate_users";
    let owner = world(db).await;
    let a = connect(db).await;
    sees_in_new_transaction(
        &a,
        U,
        &[0, 1],
        "TRUNCATE users: U before (positive control)",
    )
    .await;
    exec(&owner, "TRUNCATE support.users CASCADE").await;
    let left: i64 = one(&owner, "SELECT count(*) FROM support.workspace_members")
        .await
        .get(0);
    assert_eq!(
        left, 0,
        "TRUNCATE support.users CASCADE truncates workspace_members"
    );
    exec(
        &owner,
        &format!(
            "INSERT INTO support.users (id) VALUES ('{O}'), ('{U}'), ('{V}'); {}",
            fixture_conversations()
        ),
    )
    .await;
    sees_in_new_transaction(
        &a,
        U,
        &[],
        "TRUNCATE users: U's next transaction after TRUNCATE support.users CASCADE (U re-created, in no workspace)",
    )
    .await;
    // Positive control: a membership added afterwards shows.
    exec(&owner, &insert_membership(2, U)).await;
    sees_in_new_transaction(
        &a,
        U,
        &[2],
        "TRUNCATE users: after (W3, U) was added (positive control)",
    )
    .await;
    println!("membership cache: TRUNCATE users CASCADE emptied a cached set");
}

// ------------------------------------------------------------------ 6

/// The extension dropped and created again while the reader's backend keeps
/// its cached set: after new memberships are inserted (same user and
/// workspace ids, other memberships), the reader sees the new ones only.
/// First another session re-creates it, then the reader's own session.
#[tokio::test]
async fn drop_and_create_extension_forgets_cached_sets() {
    let db = "cx_mcache_recreate";
    let owner = world(db).await;
    let a = connect(db).await;
    let recreate = |memberships: &[(usize, &str)]| {
        format!(
            "BEGIN; SET LOCAL support.allow_drop_with_data = on; DROP EXTENSION conversations_ext; COMMIT;
             CREATE EXTENSION conversations_ext; {}",
            fixture_sql(memberships)
        )
    };
    sees_in_new_transaction(&a, U, &[0, 1], "re-create: U before (positive control)").await;

    // Another session: U now in W3 only.
    exec(&owner, &recreate(&[(2, U), (0, V)])).await;
    grant_usage(&owner, APP_ROLE).await;
    sees_in_new_transaction(
        &a,
        U,
        &[2],
        "re-create by another session: U's next transaction (U in W3 only now)",
    )
    .await;
    sees_in_new_transaction(
        &a,
        V,
        &[0],
        "re-create by another session: V (positive control)",
    )
    .await;
    sees_in_new_transaction(&a, U, &[2], "re-create by another session: U again").await;

    // The reader's own session (the superuser, between its transactions as the app role).
    exec(&a, &recreate(&[(1, U), (2, V)])).await;
    grant_usage(&a, APP_ROLE).await;
    sees_in_new_transaction(
        &a,
        U,
        &[1],
        "re-create by the reader's own session: U (in W2 only now)",
    )
    .await;

    // Dropped and created inside the reader's transaction, read before COMMIT.
    exec(
        &a,
        &format!(
            "BEGIN; SET LOCAL support.allow_drop_with_data = on; DROP EXTENSION conversations_ext;
             CREATE EXTENSION conversations_ext; SELECT support.grant_usage('{APP_ROLE}'); {}
             SET LOCAL ROLE {APP_ROLE}; {}",
            fixture_sql(&[(0, U), (2, U)]),
            identity(U)
        ),
    )
    .await;
    sees(
        &a,
        &[0, 2],
        "re-create inside the reader's transaction: U (in W1 and W3 now)",
    )
    .await;
    exec(&a, "COMMIT").await;
    sees_in_new_transaction(
        &a,
        U,
        &[0, 2],
        "re-create inside the reader's transaction: next transaction",
    )
    .await;
    println!("membership cache: DROP + CREATE EXTENSION (another session, own session, own transaction) left no cached set behind");
}

// ------------------------------------------------------------------ 7

/// The identity is read at every check, never carried over: switching it
/// inside one transaction (PostgREST's setting, then the application's, then
/// none), the first `request.jwt.claims` a session ever sets (a new setting
/// in guc.c's table, after the policies found the others), and a PL/pgSQL
/// loop that switches between two users whose ids have the same length
/// (guc.c may hand the new value the old one's memory) each give exactly the
/// current user's rows. U: WS[0], WS[1]; V: WS[2]; nobody: nothing.
#[tokio::test]
async fn identity_is_read_at_every_check() {
    let db = "cx_mcache_every_check";
    let _owner = world(db).await;
    let a = connect_app(db).await;
    exec(&a, &format!("BEGIN; SET LOCAL support.user_id = '{U}'")).await;
    assert_eq!(count_visible(&a).await, N[0] + N[1], "support.user_id = U");
    // The session's first request.jwt.claims: a new entry in guc.c's table.
    exec(&a, &identity(V)).await;
    assert_eq!(
        count_visible(&a).await,
        N[2],
        "claims name V (first precedence)"
    );
    exec(&a, "SELECT set_config('request.jwt.claims', '', true)").await;
    assert_eq!(
        count_visible(&a).await,
        N[0] + N[1],
        "empty claims: support.user_id = U again"
    );
    exec(&a, "SELECT set_config('support.user_id', '', true)").await;
    assert_eq!(count_visible(&a).await, 0, "nobody");
    // One statement (a DO block's simple expressions, evaluated without a new
    // query plan each time): U, V, U, V, nobody, U.
    let order = [U, V, U, V, "", U];
    let list = order.map(|u| format!("'{u}'")).join(", ");
    exec(
        &a,
        &format!(
            "CREATE TEMP TABLE seen (i int, w1 boolean, w3 boolean);
             DO $$
             DECLARE u text; i int := 0; dummy text;
             BEGIN
               FOREACH u IN ARRAY ARRAY[{list}] LOOP
                 i := i + 1;
                 dummy := set_config('support.user_id', u, true);
                 INSERT INTO seen VALUES (i, support.workspace_member('{}'), support.workspace_member('{}'));
               END LOOP;
             END $$",
            WS[0], WS[2]
        ),
    )
    .await;
    let rows = a
        .query("SELECT w1, w3 FROM seen ORDER BY i", &[])
        .await
        .unwrap();
    let got: Vec<(bool, bool)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let want: Vec<(bool, bool)> = order.iter().map(|&u| (u == U, u == V)).collect();
    assert_eq!(got, want, "per iteration: (member of W1, member of W3)");
    exec(&a, "COMMIT").await;
    println!("membership cache: identity switched 4 ways in one transaction and 6 times in one DO block, each check answered for the current user");
}

async fn count_visible(c: &Client) -> i64 {
    one(c, "SELECT count(*) FROM support.conversations")
        .await
        .get(0)
}
