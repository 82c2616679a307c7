//! Lifecycle model: random lifecycle calls by members, non-members and nobody give exactly the SQLSTATE and event the reference model predicts, and the events replay to the rows.

use pg_test::adversarial::generate::lifecycle_phase;
use pg_test::adversarial::setup;
use pg_test::adversarial::truth::verify_model;
use pg_test::events::{replay, Rules};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_calls_do_what_the_model_says() {
    let mut s = setup("lifecycle_model").await;
    // The world's history (set-up) was already checked call by call; more
    // calls on the finished world, then the whole database again.
    s.w.phase = "on the finished world";
    lifecycle_phase(&s.app, &mut s.w, &mut s.rng, 200 * s.scale, &mut s.report).await;
    verify_model(&s.owner, &s.w.model, &mut s.report).await;
    s.report.case("event replay");
    let events = replay(&s.owner, None, Rules::Lifecycle)
        .await
        .unwrap_or_else(|e| panic!("the events do not replay: {e}"));
    println!(
        "adversarial lifecycle_model: {} lifecycle calls matched the model; {} events chain and replay to the rows",
        s.w.op_cases, events
    );
    s.finish();
}
