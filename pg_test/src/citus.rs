//! The Citus mode of the harness (`make test-citus`, scripts/test_citus.sh):
//! with `CX_CITUS_WORKERS` set (the workers' ports; they listen on 127.0.0.1
//! like the coordinator, which `CX_PGHOST`/`CX_PGPORT` name), every database a
//! test makes is a Citus database of the three nodes, with the extension
//! distributed by `support.distribute()`, and an end user set for a
//! transaction reaches the workers. The tests themselves do not change: the
//! same expected outcomes hold on a cluster.

use tokio_postgres::Client;

/// The workers' ports, when the harness runs against a Citus cluster.
pub fn workers() -> Option<Vec<String>> {
    let ports = std::env::var("CX_CITUS_WORKERS").ok()?;
    let ports: Vec<String> = ports
        .split(',')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    (!ports.is_empty()).then_some(ports)
}

/// Whether the harness runs against a Citus cluster.
pub fn enabled() -> bool {
    workers().is_some()
}

/// Shards per distributed table (`CX_CITUS_SHARDS`, default 4).
pub fn shard_count() -> u32 {
    std::env::var("CX_CITUS_SHARDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4)
}

/// A superuser connection to `db` on the node listening on 127.0.0.1:`port`.
async fn connect_node(port: &str, db: &str) -> Client {
    crate::cluster::Target {
        host: "127.0.0.1".into(),
        port: port.into(),
    }
    .connect_with(db, "")
    .await
}

/// Makes `db` (just created on the coordinator, through `admin`) a Citus
/// database: created on every worker too, `citus` in it on every node, the
/// workers added to its metadata. Citus keeps its metadata per database.
pub async fn make_cluster_database(db: &str, options: &str) {
    let Some(workers) = workers() else { return };
    let coordinator_port = std::env::var("CX_PGPORT").expect("CX_PGPORT");
    for port in &workers {
        let w = connect_node(port, "postgres").await;
        // One statement each: neither runs in a transaction block.
        for sql in [
            format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
            format!("CREATE DATABASE {db} {options}"),
        ] {
            w.batch_execute(&sql)
                .await
                .unwrap_or_else(|e| panic!("worker {port}: {sql}: {e:?}"));
        }
        connect_node(port, db)
            .await
            .batch_execute("CREATE EXTENSION citus")
            .await
            .unwrap_or_else(|e| panic!("worker {port}: citus in {db}: {e:?}"));
    }
    let c = connect_node(&coordinator_port, db).await;
    c.batch_execute("SET client_min_messages = warning; CREATE EXTENSION citus")
        .await
        .unwrap_or_else(|e| panic!("coordinator: citus in {db}: {e:?}"));
    c.batch_execute(&format!(
        "SELECT citus_set_coordinator_host('127.0.0.1', {coordinator_port})"
    ))
    .await
    .unwrap();
    for port in &workers {
        // Adding a node syncs Citus's metadata over a new connection; on a
        // loaded machine that connection can fail ("failure on connection
        // marked as essential"): Citus's own advice is to retry.
        let sql = format!("SELECT citus_add_node('127.0.0.1', {port})");
        for attempt in 1.. {
            match c.batch_execute(&sql).await {
                Ok(()) => break,
                Err(e) if attempt < 4 && e.code().is_some_and(|c| c.code() == "XX000") => {
                    println!("citus: {db}: add worker {port}: attempt {attempt} failed ({e:?}), retrying");
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                }
                Err(e) => panic!("coordinator: add worker {port} to {db}: {e:?}"),
            }
        }
    }
}

/// `support.distribute()` in the connected database, on a cluster.
pub async fn distribute(c: &Client) {
    if !enabled() {
        return;
    }
    let sql = format!(
        "SET client_min_messages = warning; SELECT support.distribute({}); RESET client_min_messages",
        shard_count()
    );
    for attempt in 1.. {
        match c.batch_execute(&sql).await {
            Ok(()) => return,
            // Tests run two at a time on one cluster: their distribute() calls
            // can meet on the nodes' shared catalogs ("tuple concurrently
            // updated", XX000). The call is one transaction, rolled back whole:
            // run it again.
            Err(e)
                if attempt < 5
                    && e.as_db_error()
                        .is_some_and(|d| d.message() == "tuple concurrently updated") =>
            {
                println!("citus: support.distribute(): attempt {attempt} met a concurrent catalog update, retrying");
                c.batch_execute("RESET client_min_messages").await.ok();
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            Err(e) => panic!("support.distribute(): {e:?}"),
        }
    }
}

/// What follows `SET LOCAL support.user_id` on a cluster: the user reaches
/// the workers (docs/scale-out.md#identity-on-the-workers).
pub fn identity_suffix() -> &'static str {
    if enabled() {
        "; SELECT support.propagate_identity()"
    } else {
        ""
    }
}

/// A superuser connection to database `db` on worker number `n` (from 0).
pub async fn connect_worker(n: usize, db: &str) -> Client {
    let workers = workers().expect("CX_CITUS_WORKERS: only in the Citus mode");
    connect_node(&workers[n], db).await
}
