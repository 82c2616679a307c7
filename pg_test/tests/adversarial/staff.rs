//! Support staff: staff read exactly the workspaces they serve and change nothing there until they join (every lifecycle and membership call on every conversation, every write of the matrix); a staff user with a configured set sees nothing outside it; a workspace that refuses staff is invisible to them and cannot be joined; a refusal, or the DBA taking a workspace or the staff role away, ends the reads of an open staff session at its next statement (READ COMMITTED); a join racing a refusal never leaves a joined staff member in a workspace that refuses staff.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pg_test::adversarial::session::{begin, error_text, try_as, Identity};
use pg_test::adversarial::staff::{owner_of, set_access};
use pg_test::adversarial::truth::verify_model;
use pg_test::adversarial::{setup, Report, Setup, World, TENANT};
use pg_test::cluster::connect_as;
use pg_test::fixture::APP_ROLE;
use pg_test::matrix::STAFF;
use pg_test::model::{Model, Op};
use tokio_postgres::Client;

use crate::matrix_writes::matrix_writes;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn staff_see_what_they_serve_and_write_nothing_until_they_join() {
    let mut s = setup("staff").await;
    let cast = s.w.staff.clone();
    // Every read path of the staff as built (the set's user sees nothing
    // outside the set, nobody sees a refusing workspace they are not a member of).
    for u in cast.users() {
        s.read_paths(&Identity::Claims(u.to_string()), false, true)
            .await;
    }
    served_not_joined(&mut s).await;
    staff_as_transfer_targets(&mut s).await;
    for u in cast.users() {
        matrix_writes(
            &s.app,
            &s.w,
            &Identity::UserId(u.to_string()),
            &mut s.report,
        )
        .await;
    }
    open_sessions(&mut s).await;
    join_races_refusal(&mut s).await;
    // Last: the DBA empties the staff table under an open session.
    let all = cast.all.clone();
    match served(&s.w, &all, &[]) {
        Some(ws) => across(&mut s, &all, &ws, Change::Truncated, None).await,
        None => s.report.fail("no workspace left that `all` serves".into()),
    }
    // The world after all of it: the model, every read path of every
    // identity, and the staff's writes once more.
    s.w.phase = "after the staff family";
    s.truth = verify_model(&s.owner, &s.w.model, &mut s.report).await;
    for identity in s.identities.clone() {
        s.read_paths(&identity, false, false).await;
    }
    for u in cast.users() {
        matrix_writes(
            &s.app,
            &s.w,
            &Identity::Claims(u.to_string()),
            &mut s.report,
        )
        .await;
    }
    let by = |area| s.report.by_area.get(area).copied().unwrap_or(0);
    println!(
        "adversarial staff: {} calls by staff in workspaces they serve without joining, refused as the model says; \
         {} transfers to staff who have not joined; {} reads of open staff sessions across refusals and DBA changes; {} join/refusal race checks; {} staff writes \
         as docs/permissions.tsv says; {} read-path cases",
        by("staff, not joined"),
        by("staff as transfer target") / 2,
        by("open staff session"),
        by("join races refusal"),
        by("matrix writes"),
        by("read paths"),
    );
    s.finish();
}

/// A lifecycle call as `identity`, always rolled back: its SQLSTATE.
async fn try_op(app: &Client, identity: &Identity, op: &Op) -> String {
    begin(app, identity, "").await;
    let (sql, args) = op.sql();
    let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = args
        .iter()
        .map(|a| a as &(dyn tokio_postgres::types::ToSql + Sync))
        .collect();
    let r = app.query(sql.as_str(), &params).await;
    app.batch_execute("ROLLBACK").await.unwrap();
    match r {
        Ok(_) => "00000".into(),
        Err(e) => e.code().map(|c| c.code().to_string()).unwrap_or_default(),
    }
}

fn record(report: &mut Report, area: &'static str, label: String, expected: &str, got: &str) {
    report.case(area);
    if got == expected {
        return;
    }
    let line = format!("{label}: expected {expected}, the server said {got}");
    if got == "00000" {
        report.leak(line);
    } else {
        report.fail(line);
    }
}

/// Every staff user, in every workspace they serve without being a member:
/// workspace_role() is what the model says (viewer), and every lifecycle call
/// on every conversation there, claim_next and the membership functions are
/// answered as the model (the matrix's staff column, in the README's order of
/// checks) says. Rolled back.
async fn served_not_joined(s: &mut Setup) {
    let cast = s.w.staff.clone();
    let area = "staff, not joined";
    for (n, u) in cast.users().into_iter().enumerate() {
        let identity = Identity::of(u, n);
        let m: &Model = &s.w.model;
        let served: Vec<String> = m
            .workspaces
            .keys()
            .filter(|ws| m.subject(ws, u) == Some(STAFF))
            .cloned()
            .collect();
        for ws in &served {
            report_role(&s.app, &identity, ws, &s.w.model, &mut s.report).await;
            let m = &s.w.model;
            let claimer = m
                .members_of(ws)
                .into_iter()
                .map(|(x, _)| x)
                .find(|x| m.can_claim(ws, x))
                .expect("a member who can own conversations");
            let outsider = m
                .users
                .keys()
                .find(|x| m.role(ws, x).is_none() && *x != u)
                .cloned()
                .expect("a user outside the workspace");
            let mut ops: Vec<Op> = vec![Op::ClaimNext(ws.clone())];
            for c in m.live_conversations().filter(|c| &c.workspace == ws) {
                ops.extend([
                    Op::Escalate(c.id.clone(), Some("staff, not joined".into())),
                    Op::Claim(c.id.clone()),
                    Op::Release(c.id.clone()),
                    Op::Transfer(c.id.clone(), claimer.clone()),
                    Op::Transfer(c.id.clone(), u.to_string()),
                    Op::Resolve(c.id.clone()),
                    Op::Reopen(c.id.clone()),
                ]);
            }
            for op in ops {
                let expected = s.w.model.clone().lifecycle(Some(u), &op);
                let got = try_op(&s.app, &identity, &op).await;
                record(
                    &mut s.report,
                    area,
                    format!("{}: {op:?} in {ws}, which they serve", identity.label()),
                    expected.state,
                    &got,
                );
            }
            let m = &s.w.model;
            let calls = [
                (
                    "members.add_agent",
                    format!("SELECT support.add_member('{ws}', '{outsider}', 'agent')"),
                ),
                (
                    "members.add_owner",
                    format!("SELECT support.add_member('{ws}', '{u}', 'owner')"),
                ),
                (
                    "members.demote_agent",
                    format!("SELECT support.set_member_role('{ws}', '{claimer}', 'viewer')"),
                ),
                (
                    "members.remove_agent",
                    format!("SELECT support.remove_member('{ws}', '{claimer}')"),
                ),
            ];
            for (action, sql) in calls {
                let verdict = m.verdict(ws, u, action).expect("staff see the workspace");
                let o = try_as(&s.app, &identity, "", &sql).await;
                record(
                    &mut s.report,
                    area,
                    format!("{}: {action} in {ws}, which they serve", identity.label()),
                    verdict,
                    &o.state,
                );
            }
        }
    }
}

/// A member holding a claim in a workspace a staff user serves without being
/// a member transfers it to that staff user: the answer is the model's (the
/// target must be a member: 22023), and exactly the answer for a user id
/// that does not exist (members cannot see staff who have not joined, in
/// support.users or anywhere else). Rolled back.
async fn staff_as_transfer_targets(s: &mut Setup) {
    let area = "staff as transfer target";
    let cast = s.w.staff.clone();
    let mut rng = s.rng.fork();
    for u in cast.users() {
        let m = s.w.model.clone();
        for ws in m
            .workspaces
            .keys()
            .filter(|ws| m.subject(ws, u) == Some(STAFF))
        {
            // A claimed conversation, or a waiting one the holder claims first.
            let claimed = m
                .live_conversations()
                .find(|c| &c.workspace == ws && c.status == "claimed")
                .cloned();
            let waiting = m
                .live_conversations()
                .find(|c| &c.workspace == ws && c.status == "escalated")
                .cloned();
            let mut model = m.clone();
            let (conv, holder, setup) = match (claimed, waiting) {
                (Some(c), _) => {
                    let holder = c.claimed_by.clone().unwrap();
                    (c.id, holder, String::new())
                }
                (None, Some(c)) => {
                    let Some(holder) = m
                        .members_of(ws)
                        .into_iter()
                        .map(|(x, _)| x)
                        .find(|x| m.can_claim(ws, x))
                    else {
                        continue;
                    };
                    let claim = model.lifecycle(Some(&holder), &Op::Claim(c.id.clone()));
                    assert_eq!(
                        claim.state, "00000",
                        "{holder} claims {} in the model",
                        c.id
                    );
                    let sql = format!("SELECT 1 FROM support.claim_conversation('{}');", c.id);
                    (c.id, holder, sql)
                }
                _ => continue,
            };
            let identity = Identity::UserId(holder.clone());
            let missing = rng.uuid();
            let expected = model
                .clone()
                .lifecycle(Some(&holder), &Op::Transfer(conv.clone(), u.to_string()));
            let to_staff = try_as(
                &s.app,
                &identity,
                &setup,
                &format!("SELECT support.transfer_conversation('{conv}', '{u}')"),
            )
            .await;
            let to_missing = try_as(
                &s.app,
                &identity,
                &setup,
                &format!("SELECT support.transfer_conversation('{conv}', '{missing}')"),
            )
            .await;
            let label = format!(
                "{holder} ({}) transfers {conv} in {ws} to staff {u}, who serves it without being a member",
                m.subject(ws, &holder).unwrap()
            );
            record(
                &mut s.report,
                area,
                label.clone(),
                expected.state,
                &to_staff.state,
            );
            s.report.case(area);
            let staff_shape = to_staff
                .error
                .as_ref()
                .map(|e| e.normalized(&[(u, "{USER}")]));
            let missing_shape = to_missing
                .error
                .as_ref()
                .map(|e| e.normalized(&[(&missing, "{USER}")]));
            if staff_shape != missing_shape {
                s.report.leak(format!(
                    "{label}: answers differently from a user that does not exist:\n  staff:   {} {staff_shape:?}\n  missing: {} {missing_shape:?}",
                    to_staff.describe(),
                    to_missing.describe()
                ));
            }
        }
    }
}

/// workspace_role(ws) as `identity` is what the model says.
async fn report_role(app: &Client, identity: &Identity, ws: &str, m: &Model, report: &mut Report) {
    let got = pg_test::adversarial::session::rows_as(
        app,
        identity,
        "",
        &format!("SELECT coalesce(support.workspace_role('{ws}'), 'NULL')"),
    )
    .await;
    let want = identity
        .user()
        .and_then(|u| m.workspace_role(ws, u))
        .unwrap_or("NULL");
    record(
        report,
        "staff, not joined",
        format!("{}: workspace_role({ws})", identity.label()),
        want,
        &got.map(|v| v.join(",")).unwrap_or_else(|e| e),
    );
}

async fn session(s: &Setup, name: &str) -> Client {
    let (c, _) = connect_as(&s.target, TENANT, &s.db, name)
        .await
        .expect("connect as the tenant login role");
    c.batch_execute(&format!("SET ROLE {APP_ROLE}"))
        .await
        .unwrap();
    c
}

/// What a session sees of workspace `ws`: its rows in each table, and the
/// role workspace_role() gives.
const SEEN: &str = "SELECT (SELECT count(*) FROM support.workspaces WHERE id = $1::text::uuid) || ' ' || \
     (SELECT count(*) FROM support.workspace_members WHERE workspace_id = $1::text::uuid) || ' ' || \
     (SELECT count(*) FROM support.conversations WHERE workspace_id = $1::text::uuid) || ' ' || \
     (SELECT count(*) FROM support.conversation_messages WHERE workspace_id = $1::text::uuid) || ' ' || \
     (SELECT count(*) FROM support.conversation_events WHERE workspace_id = $1::text::uuid) || ' ' || \
     (SELECT count(*) FROM support.member_events WHERE workspace_id = $1::text::uuid) || ' ' || \
     coalesce(support.workspace_role($1::text::uuid), 'NULL') || ' ' || support.workspace_member($1::text::uuid)";

/// What the model (and, for member_events, the superuser) says `user` sees of `ws`.
async fn expected_seen(owner: &Client, m: &Model, user: &str, ws: &str) -> String {
    let Some(role) = m.workspace_role(ws, user) else {
        return "0 0 0 0 0 0 NULL false".into();
    };
    let member_events: i64 = owner
        .query_one(
            "SELECT count(*) FROM support.member_events WHERE workspace_id = $1::text::uuid",
            &[&ws],
        )
        .await
        .unwrap()
        .get(0);
    format!(
        "1 {} {} {} {} {member_events} {role} true",
        m.members_of(ws).len(),
        m.live_conversations().filter(|c| c.workspace == ws).count(),
        m.live_messages().filter(|x| x.workspace == ws).count(),
        m.events.iter().filter(|e| e.workspace == ws).count(),
    )
}

async fn seen(c: &Client, ws: &str) -> String {
    match c.query_one(SEEN, &[&ws]).await {
        Ok(r) => r.get(0),
        Err(e) => format!("error {}", error_text(&e)),
    }
}

/// A change made elsewhere while a staff session's transaction is open.
enum Change {
    /// The owner refuses staff (support.set_staff_access).
    Refusal,
    /// The DBA takes the workspace out of the staff user's set.
    Unlisted,
    /// The DBA deletes the staff user's support.staff row.
    NoLongerStaff,
    /// The DBA empties support.staff (and, by CASCADE, support.staff_workspaces).
    /// TRUNCATE waits for every open transaction that read the table, so
    /// the session commits first and reads again in its next transaction (a
    /// pooled connection: the backend's membership cache outlives it).
    Truncated,
}

/// An open READ COMMITTED transaction of `user` reads `ws` (as the model
/// says); then `change` commits elsewhere; the transaction's next statement
/// must see nothing of `ws`, and `also` (a workspace they are a member of, if
/// any) exactly as before. (For [`Change::Truncated`], the session's next
/// transaction.)
async fn across(s: &mut Setup, user: &str, ws: &str, change: Change, also: Option<&str>) {
    let area = "open staff session";
    let c = session(s, "cx-staff-session").await;
    begin_as(&c, "BEGIN ISOLATION LEVEL READ COMMITTED", user).await;
    let label = |what: &str| format!("staff {user} in {ws}, {what}");
    let want = expected_seen(&s.owner, &s.w.model, user, ws).await;
    assert!(
        !want.starts_with("0 "),
        "{}: the model lets them read it",
        label("before")
    );
    let got = seen(&c, ws).await;
    record(&mut s.report, area, label("before"), &want, &got);
    let also_before = match also {
        Some(a) => Some((a.to_string(), seen(&c, a).await)),
        None => None,
    };
    let what = match change {
        Change::Refusal => {
            let o = owner_of(&s.owner, &mut s.w, ws).await;
            set_access(&s.app, &mut s.w, &mut s.report, ws, &o, false, 0).await;
            "after the owner refused staff"
        }
        Change::Unlisted => {
            s.owner
                .batch_execute(&format!(
                    "BEGIN; SET LOCAL lock_timeout = '30s'; \
                     DELETE FROM support.staff_workspaces WHERE workspace_id = '{ws}' AND user_id = '{user}'; COMMIT"
                ))
                .await
                .unwrap();
            s.w.model.next_tick();
            s.w.model.staff.get_mut(user).unwrap().workspaces.remove(ws);
            "after the DBA took it out of their set"
        }
        Change::NoLongerStaff => {
            s.owner
                .batch_execute(&format!(
                    "BEGIN; SET LOCAL lock_timeout = '30s'; DELETE FROM support.staff WHERE user_id = '{user}'; COMMIT"
                ))
                .await
                .unwrap();
            s.w.model.next_tick();
            s.w.model.staff.remove(user);
            "after the DBA deleted their staff row"
        }
        Change::Truncated => {
            begin_as(&c, "COMMIT; BEGIN", user).await;
            s.owner
                .batch_execute(
                    "BEGIN; SET LOCAL lock_timeout = '30s'; TRUNCATE support.staff CASCADE; COMMIT",
                )
                .await
                .unwrap();
            s.w.model.next_tick();
            s.w.model.staff.clear();
            "after the DBA emptied support.staff (the session's next transaction)"
        }
    };
    assert!(
        s.w.model.workspace_role(ws, user).is_none(),
        "{}: the model hides it",
        label(what)
    );
    let got = seen(&c, ws).await;
    record(
        &mut s.report,
        area,
        label(&format!("{what}, the next statement")),
        "0 0 0 0 0 0 NULL false",
        &got,
    );
    if let Some((a, before)) = also_before {
        let got = seen(&c, &a).await;
        record(
            &mut s.report,
            area,
            format!("staff {user} in {a}, where they are a member, {what}"),
            &before,
            &got,
        );
    }
    // Nor can they join it, in the same transaction.
    let r = c
        .query_one(
            "SELECT x.user_id::text FROM support.join_as_staff($1::text::uuid) x",
            &[&ws],
        )
        .await;
    let state = match r {
        Ok(_) => "00000".to_string(),
        Err(e) => e.code().map(|c| c.code().to_string()).unwrap_or_default(),
    };
    record(
        &mut s.report,
        area,
        label(&format!("{what}, join_as_staff")),
        "P0002",
        &state,
    );
    c.batch_execute("ROLLBACK").await.unwrap();
}

/// `begin` (statements that open a transaction), then end user `user` for
/// it. On Citus the identity is a message of its own and reaches the workers
/// ([`Identity::set_local`], see pg_test::adversarial::session::begin).
async fn begin_as(c: &Client, begin: &str, user: &str) {
    let batches = if pg_test::citus::enabled() {
        vec![
            begin.to_string(),
            Identity::UserId(user.to_string()).set_local(),
        ]
    } else {
        vec![format!("{begin}; SET LOCAL support.user_id = '{user}'")]
    };
    for sql in batches {
        if let Err(e) = c.batch_execute(&sql).await {
            panic!("{sql}: {}", error_text(&e));
        }
    }
}

/// A workspace `user` serves without being a member, with conversations, not one of `avoid`.
fn served(w: &World, user: &str, avoid: &[&str]) -> Option<String> {
    w.model
        .workspaces
        .keys()
        .find(|ws| {
            w.model.subject(ws, user) == Some(STAFF)
                && !avoid.contains(&ws.as_str())
                && w.model.live_conversations().any(|c| &c.workspace == *ws)
        })
        .cloned()
}

async fn open_sessions(s: &mut Setup) {
    let cast = s.w.staff.clone();
    let avoid: Vec<&str> = cast
        .joined_by_all
        .iter()
        .chain([&cast.joined_by_set, &cast.spare_in_set])
        .map(String::as_str)
        .collect();
    // Staff of every workspace, not joined: the owner refuses.
    let t = served(&s.w, &cast.all, &avoid).expect("a workspace `all` serves");
    across(s, &cast.all.clone(), &t, Change::Refusal, None).await;
    // Staff of a set, joined: the owner refuses (the membership goes too).
    if s.w.model.role(&cast.joined_by_set, &cast.set).is_some()
        && !s.w.model.refuses_staff.contains(&cast.joined_by_set)
    {
        across(
            s,
            &cast.set.clone(),
            &cast.joined_by_set.clone(),
            Change::Refusal,
            None,
        )
        .await;
    }
    // Staff of a set, not joined: the DBA takes the workspace out of the set.
    if s.w.model.subject(&cast.spare_in_set, &cast.set) == Some(STAFF) {
        across(
            s,
            &cast.set.clone(),
            &cast.spare_in_set.clone(),
            Change::Unlisted,
            None,
        )
        .await;
    }
    // A member who is staff: the DBA deletes the staff row; their own
    // workspaces stay as they were.
    let mine =
        s.w.model
            .memberships_of(Some(&cast.member))
            .into_iter()
            .next();
    if let Some(ws) = served(&s.w, &cast.member, &[]) {
        across(
            s,
            &cast.member.clone(),
            &ws,
            Change::NoLongerStaff,
            mine.as_deref(),
        )
        .await;
    }
}

/// Waits until backend `pid` waits for a lock. On Citus the lock may be
/// waited for on a worker, on behalf of the backend (which waits there for
/// the worker's answer): Citus's view of the cluster's lock waits says so.
async fn wait_until_blocked(su: &Client, pid: i32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let sql = if pg_test::citus::enabled() {
        "SELECT a.wait_event_type = 'Lock' OR EXISTS (SELECT 1 FROM citus_lock_waits w \
            WHERE w.waiting_gpid = citus_calculate_gpid((SELECT n.nodeid FROM pg_dist_node n WHERE n.groupid = 0), $1)) \
           FROM pg_stat_activity a WHERE a.pid = $1"
    } else {
        "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1"
    };
    loop {
        let waiting: Option<bool> = su.query_one(sql, &[&pid]).await.unwrap().get(0);
        if waiting == Some(true) {
            return;
        }
        assert!(Instant::now() < deadline, "backend {pid} never blocked");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn state_of(r: Result<Vec<tokio_postgres::Row>, tokio_postgres::Error>) -> String {
    match r {
        Ok(_) => "00000".into(),
        Err(e) => e.code().map(|c| c.code().to_string()).unwrap_or_default(),
    }
}

/// support.join_as_staff racing support.set_staff_access(ws, false): the
/// join waits for an uncommitted refusal and then finds nothing (P0002); a
/// refusal waits for an uncommitted join and then removes the member; free
/// running, one of the two. Never a member who joined as staff in a workspace
/// that refuses staff. The owner allows staff again after each round.
async fn join_races_refusal(s: &mut Setup) {
    let area = "join races refusal";
    let cast = s.w.staff.clone();
    let all = cast.all.clone();
    let Some(ws) = served(&s.w, &all, &[]) else {
        s.report
            .fail("no workspace left for the join/refusal race".into());
        return;
    };
    let owner_id = owner_of(&s.owner, &mut s.w, &ws).await;
    let joiner = Arc::new(session(s, "cx-staff-join").await);
    let refuser = Arc::new(session(s, "cx-staff-refuse").await);
    let pid = |c: Arc<Client>| async move {
        c.query_one("SELECT pg_backend_pid()", &[])
            .await
            .unwrap()
            .get::<_, i32>(0)
    };
    let (joiner_pid, refuser_pid) = (pid(joiner.clone()).await, pid(refuser.clone()).await);
    let join_sql = format!("SELECT x.user_id FROM support.join_as_staff('{ws}') x");
    let refuse_sql = format!("SELECT support.set_staff_access('{ws}', false)");
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let rounds = 30;
    for round in 0..rounds {
        let order = match round % 3 {
            0 => "join first",
            1 => "refusal first",
            _ => "free",
        };
        let join_state;
        match order {
            "join first" => {
                begin_as(&joiner, "BEGIN", &all).await;
                join_state = state_of(joiner.query(join_sql.as_str(), &[]).await).await;
                let waiting = {
                    let (r, sql, me) = (refuser.clone(), refuse_sql.clone(), owner_id.clone());
                    tokio::spawn(async move {
                        begin_as(&r, "BEGIN", &me).await;
                        let st = state_of(r.query(sql.as_str(), &[]).await).await;
                        r.batch_execute(if st == "00000" { "COMMIT" } else { "ROLLBACK" })
                            .await
                            .unwrap();
                        st
                    })
                };
                wait_until_blocked(&s.owner, refuser_pid).await;
                joiner.batch_execute("COMMIT").await.unwrap();
                let refused = waiting.await.unwrap();
                record(
                    &mut s.report,
                    area,
                    format!("round {round} ({order}): the refusal"),
                    "00000",
                    &refused,
                );
            }
            "refusal first" => {
                begin_as(&refuser, "BEGIN", &owner_id).await;
                let refused = state_of(refuser.query(refuse_sql.as_str(), &[]).await).await;
                record(
                    &mut s.report,
                    area,
                    format!("round {round} ({order}): the refusal"),
                    "00000",
                    &refused,
                );
                let waiting = {
                    let (j, sql, me) = (joiner.clone(), join_sql.clone(), all.clone());
                    tokio::spawn(async move {
                        begin_as(&j, "BEGIN", &me).await;
                        let st = state_of(j.query(sql.as_str(), &[]).await).await;
                        j.batch_execute(if st == "00000" { "COMMIT" } else { "ROLLBACK" })
                            .await
                            .unwrap();
                        st
                    })
                };
                wait_until_blocked(&s.owner, joiner_pid).await;
                refuser.batch_execute("COMMIT").await.unwrap();
                join_state = waiting.await.unwrap();
            }
            _ => {
                let j = {
                    let (j, sql, me) = (joiner.clone(), join_sql.clone(), all.clone());
                    tokio::spawn(async move {
                        begin_as(&j, "BEGIN", &me).await;
                        let st = state_of(j.query(sql.as_str(), &[]).await).await;
                        j.batch_execute(if st == "00000" { "COMMIT" } else { "ROLLBACK" })
                            .await
                            .unwrap();
                        st
                    })
                };
                let r = {
                    let (r, sql, me) = (refuser.clone(), refuse_sql.clone(), owner_id.clone());
                    tokio::spawn(async move {
                        begin_as(&r, "BEGIN", &me).await;
                        let st = state_of(r.query(sql.as_str(), &[]).await).await;
                        r.batch_execute(if st == "00000" { "COMMIT" } else { "ROLLBACK" })
                            .await
                            .unwrap();
                        st
                    })
                };
                join_state = j.await.unwrap();
                let refused = r.await.unwrap();
                record(
                    &mut s.report,
                    area,
                    format!("round {round} ({order}): the refusal"),
                    "00000",
                    &refused,
                );
            }
        }
        // The model: the join came first if it succeeded, else the refusal.
        s.w.model.next_tick();
        if join_state == "00000" {
            s.w.model.join_as_staff(&ws, Some(&all));
            s.w.model.set_staff_access(&ws, Some(&owner_id), false);
        } else {
            s.w.model.set_staff_access(&ws, Some(&owner_id), false);
            s.w.model.join_as_staff(&ws, Some(&all));
        }
        let expected_join = match order {
            "join first" => "00000",
            "refusal first" => "P0002",
            _ => join_state.as_str(),
        };
        record(
            &mut s.report,
            area,
            format!("round {round} ({order}): the join"),
            expected_join,
            &join_state,
        );
        if !["00000", "P0002"].contains(&join_state.as_str()) {
            s.report.fail(format!(
                "round {round} ({order}): the join said {join_state}"
            ));
        }
        *seen
            .entry(format!("{order}: join {join_state}"))
            .or_default() += 1;
        // Never a joined staff member where staff are refused.
        let stray: i64 = s
            .owner
            .query_one(
                "SELECT count(*) FROM support.workspace_members m JOIN support.workspaces w ON w.id = m.workspace_id \
                  WHERE m.joined_as_staff AND NOT w.staff_access AND m.role <> 'owner'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        s.report.case(area);
        if stray != 0 {
            s.report.leak(format!(
                "round {round} ({order}): {stray} members joined as staff in workspaces that refuse staff"
            ));
        }
        set_access(&s.app, &mut s.w, &mut s.report, &ws, &owner_id, true, round).await;
    }
    println!("adversarial staff: join/refusal races on {ws}: {seen:?}");
}
