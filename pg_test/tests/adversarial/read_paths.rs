//! Read paths: every user reads exactly the rows the model says, through every table, function, plan shape, COPY, cursor, view and SECURITY DEFINER function.

use pg_test::adversarial::setup;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_read_path_returns_exactly_the_model() {
    let mut s = setup("read_paths").await;
    for identity in s.identities.clone() {
        s.read_paths(&identity, false, true).await;
    }
    println!(
        "adversarial read_paths: {} identities, {} cases",
        s.identities.len(),
        s.report.by_area.get("read paths").copied().unwrap_or(0)
    );
    s.finish();
}
