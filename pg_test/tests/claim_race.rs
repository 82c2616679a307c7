//! Two agents race for the same conversation on real connections: exactly one
//! wins, the other gets 55006, every round.

use pg_test::prelude::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_agents_racing_exactly_one_wins() {
    let rounds = 50;
    let a2 = agent_id(2);
    let owner = fresh_database("cx_claim_race", std::slice::from_ref(&a2)).await;
    let ids = escalated_conversations(&owner, rounds).await;
    let agents = [U1.to_string(), a2.clone()];
    // Each claim is a transaction of its own with a transaction-local identity.
    let mut clients = Vec::new();
    for _ in &agents {
        clients.push(connect_app("cx_claim_race").await);
    }
    for id in &ids {
        let sql = format!("SELECT claimed_by::text FROM support.claim_conversation('{id}')");
        let (r1, r2) = tokio::join!(
            as_user_one(&clients[0], &agents[0], &sql),
            as_user_one(&clients[1], &agents[1], &sql)
        );
        let states = [sqlstate(&r1), sqlstate(&r2)];
        let winners: Vec<usize> = (0..2).filter(|&i| states[i] == "00000").collect();
        assert_eq!(winners.len(), 1, "{id}: {states:?}");
        assert!(states.contains(&"55006".to_string()), "{id}: {states:?}");
        let owner_now: String = owner
            .query_one(
                &format!("SELECT claimed_by::text FROM support.conversations WHERE id = '{id}'"),
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(owner_now, agents[winners[0]]);
    }
    println!("claim race: {rounds} rounds, exactly one winner each");
}
