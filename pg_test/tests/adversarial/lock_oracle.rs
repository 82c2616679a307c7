//! Lock oracle: a lock held on another workspace's conversation is not observable (no wait, no lock timeout, the same answer as for a missing id).

use std::time::{Duration, Instant};

use pg_test::adversarial::citus::{self, comparable, Refusal};
use pg_test::adversarial::session::{try_as, Identity};
use pg_test::adversarial::{setup, Report, World};
use pg_test::checksum::checksum;
use pg_test::cluster::connect;
use pg_test::rng::Rng;
use tokio_postgres::Client;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_locks_are_not_an_existence_oracle() {
    let mut s = setup("lock_oracle").await;
    lock_oracle(&s.db, &s.app, &s.w, &mut s.rng, &mut s.report).await;
    assert_eq!(checksum(&s.owner).await, s.baseline);
    println!(
        "adversarial lock_oracle: {} locked-row probes",
        s.report.by_area.get("lock oracle").copied().unwrap_or(0)
    );
    s.finish();
}

/// (b) A lock held on another workspace's conversation is not observable:
/// a foreign caller never waits on it (no lock-timeout oracle), and answers
/// exactly as for a missing id; a member of that workspace does wait
/// (positive control).
async fn lock_oracle(db: &str, app: &Client, w: &World, rng: &mut Rng, report: &mut Report) {
    let holder = connect(db).await;
    let users = w.user_ids();
    let mut tried = 0;
    for u in users.iter() {
        let mine = w.model.workspaces_of(Some(u));
        let Some(fc) = w
            .model
            .live_conversations()
            .find(|c| !mine.contains(&c.workspace))
            .cloned()
        else {
            continue;
        };
        tried += 1;
        if tried > 6 {
            break;
        }
        // The lock: on Citus a FOR UPDATE names the workspace (the shard key).
        holder
            .batch_execute(&format!(
                "BEGIN; SELECT 1 FROM support.conversations WHERE id = '{}'{} FOR UPDATE",
                fc.id,
                pinned(&fc.workspace)
            ))
            .await
            .unwrap();
        let identity = Identity::Claims(u.clone());
        let mut templates = vec![
            "SELECT support.escalate_conversation('{CONV}')",
            "SELECT support.claim_conversation('{CONV}')",
            "SELECT support.release_conversation('{CONV}')",
            "SELECT support.resolve_conversation('{CONV}')",
            "SELECT support.reopen_conversation('{CONV}')",
            "UPDATE support.conversations SET subject = 'x' WHERE id = '{CONV}'",
            "DELETE FROM support.conversations WHERE id = '{CONV}'",
            "SELECT 1 FROM support.conversations WHERE id = '{CONV}' FOR UPDATE",
        ];
        if citus::enabled() {
            // The FOR UPDATE Citus runs (the shape above it refuses, 0A000,
            // for every id): on the locked row's shard, for the locked id
            // and a missing id of the same workspace.
            templates.push(
                "SELECT 1 FROM support.conversations WHERE id = '{CONV}' AND workspace_id = '{WS}' FOR UPDATE",
            );
        }
        for tpl in templates {
            let missing = rng.uuid();
            let render = |id: &str| tpl.replace("{CONV}", id).replace("{WS}", &fc.workspace);
            let started = Instant::now();
            let f = try_as(
                app,
                &identity,
                "SET LOCAL lock_timeout = '2s';",
                &render(&fc.id),
            )
            .await;
            let waited = started.elapsed();
            let c = try_as(
                app,
                &identity,
                "SET LOCAL lock_timeout = '2s';",
                &render(&missing),
            )
            .await;
            report.case("lock oracle");
            let fe = f
                .error
                .as_ref()
                .map(|e| comparable(e, &[(fc.id.as_str(), "{CONV}")]));
            let ce = c
                .error
                .as_ref()
                .map(|e| comparable(e, &[(missing.as_str(), "{CONV}")]));
            if f.state == "55P03"
                || waited > Duration::from_millis(1500)
                || (f.state.as_str(), f.rows, &fe) != (c.state.as_str(), c.rows, &ce)
            {
                report.leak(format!(
                    "{u}: {tpl} on a locked conversation of another workspace: {} after {waited:?} (missing id: {})",
                    f.describe(),
                    c.describe()
                ));
            } else if let Some(r) = citus::refusal(&f, &[Refusal::ForUpdate]) {
                if tpl.ends_with("FOR UPDATE") && !tpl.contains("workspace_id") {
                    report.citus_accept(r, &format!("lock oracle: {tpl}"));
                } else {
                    report.fail(format!("{u}: {tpl}: {}", f.describe()));
                }
            }
        }
        // Positive control: a member of that workspace waits for the lock.
        if let Some((member, _)) = w.model.members_of(&fc.workspace).first().cloned() {
            let o = try_as(
                app,
                &Identity::Claims(member),
                "SET LOCAL lock_timeout = '100ms';",
                &format!(
                    "SELECT 1 FROM support.conversations WHERE id = '{}'{} FOR UPDATE",
                    fc.id,
                    pinned(&fc.workspace)
                ),
            )
            .await;
            report.case("positive controls");
            if o.state != "55P03" {
                report.fail(format!(
                    "positive control: a member should wait for the lock: {}",
                    o.describe()
                ));
            }
        }
        holder.batch_execute("ROLLBACK").await.unwrap();
    }
}

/// On Citus, ` AND workspace_id = '<ws>'`: Citus runs a FOR UPDATE only with
/// an equality on the shard key (the locked row's workspace, from the model).
fn pinned(ws: &str) -> String {
    if citus::enabled() {
        format!(" AND workspace_id = '{ws}'")
    } else {
        String::new()
    }
}
