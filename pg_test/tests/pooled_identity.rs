//! Identity that a pool cannot poison: 40 clients share 3 server connections
//! through a real PgBouncer in transaction mode with no server_reset_query.
//! Sloppy clients leave session-level identity settings behind on the shared
//! server connections; clients that set their identity per transaction must
//! still be served exactly their own identity, and clients that send none must
//! be nobody. Then support.identity_mode is switched with ALTER SYSTEM +
//! pg_reload_conf() and already-pooled connections must follow (ALTER
//! DATABASE ... SET must not, until PgBouncer RECONNECTs).
//!
//! ALTER SYSTEM is cluster-wide, so this file starts its own cluster (and its
//! own PgBouncer) and stops both at the end, whatever happens.

use pg_test::cluster::{run, script, OwnCluster, Target};
use pg_test::fixture::APP_ROLE;
use pg_test::roles::{ensure_role, grant_usage};
use pg_test::session::sqlstate;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};
use tokio_postgres::{Client, SimpleQueryMessage};

const DB: &str = "cx_pooled_identity";
const USERS: usize = 6;
const CONVERSATIONS_PER_WORKSPACE: usize = 3;
const CLIENTS: usize = 40;
const TRANSACTIONS_PER_CLIENT: usize = 100;
const POOL_SIZE: usize = 3;

fn user(i: usize) -> String {
    format!("c0000000-0000-4000-8000-{:012}", i + 1)
}

fn workspace(i: usize) -> String {
    format!("d0000000-0000-4000-8000-{:012}", i + 1)
}

/// A dedicated cluster with a PgBouncer in front; both stop when dropped
/// (also when the test panics).
struct Stack {
    cluster: OwnCluster,
    bouncer: Target,
}

impl Stack {
    fn start() -> Stack {
        let cluster = OwnCluster::start("cx-pooled-pg");
        let bouncer_dir = run(Command::new("mktemp").args(["-d", "/tmp/cx-pooled-pgb.XXXXXX"]));
        // Unix sockets only, each in its own directory: any other number will do.
        let bouncer_port = (cluster.target.port.parse::<u32>().unwrap() + 1).to_string();
        run(Command::new(script("pgbouncer.sh")).args([
            "start",
            &bouncer_dir,
            &cluster.target.host,
            &cluster.target.port,
            &bouncer_port,
        ]));
        Stack {
            cluster,
            bouncer: Target {
                host: bouncer_dir,
                port: bouncer_port,
            },
        }
    }

    async fn direct(&self, db: &str) -> Client {
        self.cluster.target.connect_with(db, "").await
    }

    async fn pooled(&self, db: &str) -> Client {
        self.bouncer.connect_with(db, "").await
    }
}

/// Stops the pooler; the cluster stops when the OwnCluster field is dropped.
impl Drop for Stack {
    fn drop(&mut self) {
        let _ = Command::new(script("pgbouncer.sh"))
            .args(["stop", &self.bouncer.host])
            .status();
        let _ = std::fs::remove_dir_all(&self.bouncer.host);
    }
}

/// Rows of a simple-protocol query (the only protocol used through the
/// pooler: no prepared statements), every value as text.
async fn rows(c: &Client, sql: &str) -> Vec<Vec<Option<String>>> {
    c.simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => {
                Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
            }
            _ => None,
        })
        .collect()
}

/// The last row of a multi-statement simple query (set_config() returns one
/// row of its own before the row wanted).
async fn last(c: &Client, sql: &str) -> Vec<Option<String>> {
    rows(c, sql)
        .await
        .pop()
        .unwrap_or_else(|| panic!("{sql}: no row"))
}

async fn one(c: &Client, sql: &str) -> Vec<Option<String>> {
    let mut r = rows(c, sql).await;
    assert_eq!(r.len(), 1, "{sql}: expected one row, got {r:?}");
    r.remove(0)
}

async fn setup(stack: &Stack) {
    let admin = stack.direct("postgres").await;
    ensure_role(&admin, APP_ROLE, "NOLOGIN").await;
    admin
        .batch_execute(&format!("CREATE DATABASE {DB}"))
        .await
        .unwrap();
    let c = stack.direct(DB).await;
    c.batch_execute("CREATE EXTENSION conversations_ext")
        .await
        .unwrap();
    grant_usage(&c, APP_ROLE).await;
    for i in 0..USERS {
        let (u, w) = (user(i), workspace(i));
        c.batch_execute(&format!(
            "INSERT INTO support.users (id) VALUES ('{u}');
             INSERT INTO support.workspaces (id, name) VALUES ('{w}', 'w{i}');
             INSERT INTO support.workspace_members (workspace_id, user_id) VALUES ('{w}', '{u}');
             INSERT INTO support.conversations (workspace_id, subject)
                  SELECT '{w}', 'w{i} #' || g FROM generate_series(1, {CONVERSATIONS_PER_WORKSPACE}) g;"
        ))
        .await
        .unwrap();
    }
}

#[derive(Default, Debug)]
struct Tally {
    transactions: u64,
    correct: u64,
    own_identity: u64,
    foreign: Vec<String>,
    not_served: Vec<String>,
    poison_seen_before: u64,
    sloppy: u64,
    identityless: u64,
    identityless_rows: u64,
}

impl Tally {
    fn add(mut self, x: Tally) -> Tally {
        self.transactions += x.transactions;
        self.correct += x.correct;
        self.own_identity += x.own_identity;
        self.foreign.extend(x.foreign);
        self.not_served.extend(x.not_served);
        self.poison_seen_before += x.poison_seen_before;
        self.sloppy += x.sloppy;
        self.identityless += x.identityless;
        self.identityless_rows += x.identityless_rows;
        self
    }
}

/// What a correct client reads after setting its identity for the
/// transaction: (current_user_id, workspaces of the rows it can see).
const READ: &str = "SELECT support.current_user_id()::text,
    (SELECT string_agg(DISTINCT workspace_id::text, ',') FROM support.conversations)";

/// One client: `kind` 0 and 1 set their identity per transaction (SET LOCAL
/// support.user_id, or PostgREST's set_config('request.jwt.claims', .., true)),
/// 2 leaves session-level identity behind, 3 sends no identity at all.
async fn client(stack: &Stack, k: usize, deadline: Instant) -> Tally {
    let c = stack.pooled(DB).await;
    let me = k % USERS;
    let (u, w) = (user(me), workspace(me));
    let kind = k % 4;
    let mut t = Tally::default();
    for n in 0..TRANSACTIONS_PER_CLIENT {
        if Instant::now() > deadline {
            break;
        }
        t.transactions += 1;
        match kind {
            0 | 1 => {
                t.correct += 1;
                // What the pooled server connection holds before this
                // transaction sets anything (session-level leftovers).
                let before = one(
                    &c,
                    "BEGIN; SELECT coalesce(current_setting('support.user_id', true), ''),
                            coalesce(current_setting('request.jwt.claims', true), '')",
                )
                .await;
                let stale_uid = before[0].clone().unwrap_or_default();
                let stale_claims = before[1].clone().unwrap_or_default();
                if (!stale_uid.is_empty() && stale_uid != u)
                    || (!stale_claims.is_empty() && !stale_claims.contains(&u))
                {
                    t.poison_seen_before += 1;
                }
                let set = if kind == 0 {
                    format!("SET LOCAL support.user_id = '{u}'")
                } else {
                    format!("SELECT set_config('request.jwt.claims', '{{\"sub\":\"{u}\"}}', true)")
                };
                let got = last(&c, &format!("SET LOCAL ROLE {APP_ROLE}; {set}; {READ}")).await;
                rows(&c, "COMMIT").await;
                let who = got[0].clone();
                let seen = got[1].clone().unwrap_or_default();
                let foreign_who = who.as_deref().is_some_and(|x| x != u);
                let foreign_rows = seen.split(',').any(|x| !x.is_empty() && x != w);
                if foreign_who || foreign_rows {
                    t.foreign.push(format!(
                        "client {k} as {u}: identity {who:?}, rows of {seen}"
                    ));
                } else if who.as_deref() == Some(u.as_str()) && seen == w {
                    t.own_identity += 1;
                } else {
                    t.not_served.push(format!(
                        "client {k} as {u}: identity {who:?}, rows of {seen:?}"
                    ));
                }
            }
            2 => {
                t.sloppy += 1;
                let claims = format!("{{\"sub\":\"{u}\"}}");
                let sql = match n % 4 {
                    0 => format!("SET support.user_id = '{u}'"),
                    1 => format!("SET request.jwt.claims = '{claims}'"),
                    2 => format!("BEGIN; SET support.user_id = '{u}'; COMMIT"),
                    _ => format!(
                        "BEGIN; SET request.jwt.claims = '{claims}'; SET request.jwt.claim.sub = '{u}'; COMMIT"
                    ),
                };
                rows(&c, &sql).await;
            }
            _ => {
                t.identityless += 1;
                rows(&c, &format!("BEGIN; SET LOCAL ROLE {APP_ROLE}")).await;
                let got = one(
                    &c,
                    "SELECT support.current_user_id()::text, (SELECT count(*) FROM support.conversations)::text",
                )
                .await;
                rows(&c, "COMMIT").await;
                let count: u64 = got[1].as_deref().unwrap_or("0").parse().unwrap();
                t.identityless_rows += count;
                if got[0].is_some() || count > 0 {
                    t.foreign.push(format!(
                        "identity-less client {k}: identity {:?}, {count} rows",
                        got[0]
                    ));
                }
            }
        }
    }
    t
}

/// The poison exists and is refused, shown on one plain (unpooled) connection.
async fn direct_positive_control(stack: &Stack) {
    let c = stack.direct(DB).await;
    let (u, w) = (user(0), workspace(0));
    rows(&c, &format!("SET support.user_id = '{u}'")).await;
    let shown = one(&c, "SHOW support.user_id").await;
    assert_eq!(
        shown[0].as_deref(),
        Some(u.as_str()),
        "positive control: the stale session-level value is still in the backend"
    );
    let got = one(
        &c,
        &format!(
            "BEGIN; SET LOCAL ROLE {APP_ROLE};
             SELECT support.current_user_id()::text, (SELECT count(*) FROM support.conversations)::text"
        ),
    )
    .await;
    assert_eq!(
        got,
        vec![None, Some("0".to_string())],
        "a session-level support.user_id left from an earlier transaction identifies nobody"
    );
    let r = c
        .simple_query(&format!("SELECT support.claim_next_conversation('{w}')"))
        .await;
    assert_eq!(sqlstate(&r), "28000", "a function that needs a user: {r:?}");
    let e = r.unwrap_err();
    let db = e.as_db_error().unwrap();
    let text = format!(
        "{} {} {}",
        db.message(),
        db.detail().unwrap_or(""),
        db.hint().unwrap_or("")
    );
    println!("direct connection, stale SET support.user_id = '{u}': SHOW support.user_id = {u}; current_user_id() NULL, 0 rows; claim_next_conversation: 28000 {text}");
    assert!(
        text.contains("SET LOCAL"),
        "the 28000 error tells to use SET LOCAL: {text}"
    );
    rows(&c, "ROLLBACK").await;

    // Same for stale PostgREST claims.
    rows(
        &c,
        &format!("SET request.jwt.claims = '{{\"sub\":\"{u}\"}}'"),
    )
    .await;
    let got = one(
        &c,
        &format!(
            "BEGIN; SET LOCAL ROLE {APP_ROLE};
             SELECT current_setting('request.jwt.claims'), support.current_user_id()::text"
        ),
    )
    .await;
    rows(&c, "ROLLBACK").await;
    assert_eq!(got[1], None, "stale session-level claims identify nobody");
    assert!(got[0].as_deref().unwrap().contains(&u));
}

/// Pooled transactions, concurrently so that every server connection of the
/// pool is used: (server pid, support.identity_mode, current_user_id() after
/// a claims-mode identity set in the transaction).
async fn probe_pool(stack: &Stack) -> Vec<(String, String, Option<String>)> {
    let u = user(1);
    let probes = (0..2 * POOL_SIZE).map(|i| {
        let u = u.clone();
        async move {
            let c = stack.pooled(DB).await;
            let set = if i % 2 == 0 {
                format!("SET LOCAL support.user_id = '{u}'")
            } else {
                format!("SELECT set_config('request.jwt.claims', '{{\"sub\":\"{u}\"}}', true)")
            };
            // The first support.* call loads the library in a new server
            // connection; before it, current_setting() does not know the mode.
            let got = last(
                &c,
                &format!(
                    "BEGIN; SET LOCAL ROLE {APP_ROLE}; {set}; SELECT support.current_user_id();
                     SELECT pg_backend_pid()::text, current_setting('support.identity_mode'),
                            support.current_user_id()::text FROM pg_sleep(0.3)"
                ),
            )
            .await;
            rows(&c, "COMMIT").await;
            (
                got[0].clone().unwrap(),
                got[1].clone().unwrap(),
                got[2].clone(),
            )
        }
    });
    futures::future::join_all(probes).await
}

fn pids(p: &[(String, String, Option<String>)]) -> BTreeSet<String> {
    p.iter().map(|x| x.0.clone()).collect()
}

fn modes(p: &[(String, String, Option<String>)]) -> BTreeSet<String> {
    p.iter().map(|x| x.1.clone()).collect()
}

/// Probes the pool until every probe shows `mode` (a reload reaches each
/// backend at its next command), at most 10 s.
async fn probe_until(stack: &Stack, mode: &str) -> Vec<(String, String, Option<String>)> {
    let start = Instant::now();
    loop {
        let p = probe_pool(stack).await;
        if modes(&p) == BTreeSet::from([mode.to_string()]) || start.elapsed().as_secs() > 10 {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn admin_console(stack: &Stack, cmd: &str) {
    let c = stack.pooled("pgbouncer").await;
    c.simple_query(cmd)
        .await
        .unwrap_or_else(|e| panic!("pgbouncer {cmd}: {e}"));
}

fn show(p: &[(String, String, Option<String>)]) -> String {
    let who: BTreeSet<_> = p.iter().map(|x| x.2.as_deref().unwrap_or("NULL")).collect();
    format!(
        "server pids {:?}, identity_mode {:?}, current_user_id() {:?}",
        pids(p),
        modes(p),
        who
    )
}

fn one_mode(mode: &str) -> BTreeSet<String> {
    BTreeSet::from([mode.to_string()])
}

async fn identity_mode_follows(stack: &Stack) {
    let admin = stack.direct(DB).await;
    let sql = |q: String| {
        let admin = &admin;
        async move {
            admin
                .batch_execute(&q)
                .await
                .unwrap_or_else(|e| panic!("{q}: {e}"))
        }
    };
    let before = probe_pool(stack).await;
    let open = pids(&before);
    println!("pool before: {}", show(&before));
    assert_eq!(modes(&before), one_mode("claims"));
    assert!(
        before.iter().all(|x| x.2 == Some(user(1))),
        "positive control: in claims mode the settings identify the user"
    );
    assert!(open.len() <= POOL_SIZE, "pool of {POOL_SIZE}: {open:?}");

    // ALTER SYSTEM + pg_reload_conf(): the open server connections follow.
    // (ALTER SYSTEM knows support.* settings once the library is loaded in
    // the session that runs it.)
    sql("SELECT support.current_user_id()".into()).await;
    sql("ALTER SYSTEM SET support.identity_mode = 'verified'".into()).await;
    sql("SELECT pg_reload_conf()".into()).await;
    let after = probe_until(stack, "verified").await;
    println!(
        "ALTER SYSTEM SET support.identity_mode = 'verified' + pg_reload_conf(): {}",
        show(&after)
    );
    assert_eq!(modes(&after), one_mode("verified"));
    assert!(pids(&after).is_subset(&open), "the same server connections");
    assert!(
        after.iter().all(|x| x.2.is_none()),
        "verified mode: claims-mode settings identify nobody"
    );
    // New server connections get it too, from their first transaction on.
    admin_console(stack, &format!("RECONNECT {DB}")).await;
    let renewed = probe_pool(stack).await;
    println!("  + pgbouncer RECONNECT: {}", show(&renewed));
    assert_eq!(modes(&renewed), one_mode("verified"));
    assert!(pids(&renewed).is_disjoint(&open));
    assert!(renewed.iter().all(|x| x.2.is_none()));
    let open = pids(&renewed);
    sql("ALTER SYSTEM RESET support.identity_mode".into()).await;
    sql("SELECT pg_reload_conf()".into()).await;
    let reset = probe_until(stack, "claims").await;
    println!(
        "ALTER SYSTEM RESET support.identity_mode + pg_reload_conf(): {}",
        show(&reset)
    );
    assert_eq!(modes(&reset), one_mode("claims"));
    assert!(pids(&reset).is_subset(&open));
    assert!(reset.iter().all(|x| x.2 == Some(user(1))));

    // ALTER DATABASE ... SET applies at connection start only: the pooled
    // server connections keep the old mode until PgBouncer reconnects them.
    sql(format!(
        "ALTER DATABASE {DB} SET support.identity_mode = 'verified'"
    ))
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stale = probe_pool(stack).await;
    let fresh = one(&stack.direct(DB).await, "SHOW support.identity_mode").await;
    println!(
        "ALTER DATABASE {DB} SET support.identity_mode = 'verified': pool {}; a new direct connection: {:?}",
        show(&stale),
        fresh[0]
    );
    assert_eq!(modes(&stale), one_mode("claims"));
    assert!(pids(&stale).is_subset(&open));
    assert_eq!(fresh[0].as_deref(), Some("verified"));
    admin_console(stack, &format!("RECONNECT {DB}")).await;
    let reconnected = probe_pool(stack).await;
    println!("  + pgbouncer RECONNECT: {}", show(&reconnected));
    assert_eq!(modes(&reconnected), one_mode("verified"));
    assert!(pids(&reconnected).is_disjoint(&open));
    assert!(reconnected.iter().all(|x| x.2.is_none()));

    sql(format!("ALTER DATABASE {DB} RESET support.identity_mode")).await;
    admin_console(stack, &format!("RECONNECT {DB}")).await;
    let back = probe_pool(stack).await;
    println!(
        "ALTER DATABASE {DB} RESET support.identity_mode + pgbouncer RECONNECT: {}",
        show(&back)
    );
    assert_eq!(modes(&back), one_mode("claims"));
    assert!(back.iter().all(|x| x.2 == Some(user(1))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pooled_identity_cannot_be_poisoned() {
    let stack = Stack::start();
    setup(&stack).await;

    direct_positive_control(&stack).await;

    let deadline = Instant::now() + Duration::from_secs(120);
    let stack_ref = &stack;
    let clients = (0..CLIENTS).map(|k| client(stack_ref, k, deadline));
    let tallies =
        tokio::time::timeout(Duration::from_secs(180), futures::future::join_all(clients))
            .await
            .expect("pooled workload within 180 s");
    let t = tallies.into_iter().fold(Tally::default(), Tally::add);
    println!(
        "pooled identity: {} transactions through PgBouncer (pool {POOL_SIZE}, {CLIENTS} clients, {} sloppy): {} under a foreign identity; correct clients served their own identity {} of {} times ({} of them started on a connection holding another user's session-level identity); identity-less saw {} rows in {} transactions",
        t.transactions,
        t.sloppy,
        t.foreign.len(),
        t.own_identity,
        t.correct,
        t.poison_seen_before,
        t.identityless_rows,
        t.identityless
    );
    assert_eq!(
        t.transactions,
        (CLIENTS * TRANSACTIONS_PER_CLIENT) as u64,
        "every client finished its transactions before the deadline"
    );
    assert!(
        t.poison_seen_before > 0,
        "positive control: sloppy clients' session-level identity reached pooled connections"
    );
    assert!(
        t.foreign.is_empty(),
        "{} transactions under a foreign identity, e.g. {:?}",
        t.foreign.len(),
        &t.foreign[..t.foreign.len().min(5)]
    );
    assert!(
        t.not_served.is_empty(),
        "correct clients not served their own identity: {:?}",
        &t.not_served[..t.not_served.len().min(5)]
    );
    assert_eq!(t.own_identity, t.correct);

    identity_mode_follows(&stack).await;
}
