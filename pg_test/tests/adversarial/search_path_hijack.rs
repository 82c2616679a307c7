//! Search-path hijack: objects planted in public and pg_temp under the names the extension's SECURITY DEFINER functions and triggers use are never called, whatever the caller's search_path.

use pg_test::adversarial::generate::{deletion_phase, generate_content, lifecycle_phase};
use pg_test::adversarial::session::{attempt_as, error_text, Identity};
use pg_test::adversarial::truth::verify_model;
use pg_test::adversarial::{setup, World};
use pg_test::session::texts;
use tokio_postgres::Client;

/// What a planted `gen_random_uuid()` would return.
const PLANTED_UUID: &str = "00000000-0000-4000-8000-000000000bad";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_objects_are_never_called() {
    let mut s = setup("search_path_hijack").await;
    // (a) search_path hijack.
    let planted = plant_hijack_objects(&s.app, &s.w).await;
    let hijack_path = "SET search_path = pg_temp, public, pg_catalog, support";
    s.app.batch_execute(hijack_path).await.unwrap();
    // Positive control: the planted objects are live for names resolved
    // through this search_path.
    s.notices.clear();
    s.app.batch_execute(
        "SELECT now(); SELECT '00000000-0000-4000-8000-000000000001'::uuid = '00000000-0000-4000-8000-000000000002'::uuid; \
         SELECT pg_temp.now(); SELECT current_setting('row_security')",
    )
    .await
    .unwrap();
    let control = s.notices.take();
    s.report.case("search_path hijack");
    for expected in [
        "public.now",
        "public.uuid_eq",
        "pg_temp.now",
        "public.current_setting",
    ] {
        assert!(
            control.iter().any(|n| n.contains(expected)),
            "positive control: planted {expected} is called when a name resolves through the hijacked path: {control:?}"
        );
    }
    s.owner
        .batch_execute("TRUNCATE public.hijack_log")
        .await
        .unwrap();
    s.notices.clear();
    // Everything the extension runs, under the hijacked search_path: every
    // lifecycle function, inserts, updates and deletes (triggers), identity
    // and membership functions, and a DBA's foreign-key cascade.
    let before_events = s.w.model.events.len();
    s.w.phase = "under the hijacked search_path: a planted object may have been called";
    lifecycle_phase(&s.app, &mut s.w, &mut s.rng, 120 * s.scale, &mut s.report).await;
    generate_content(&s.app, &mut s.w, &mut s.rng, 1).await;
    deletion_phase(&s.owner, &s.app, &mut s.w, &mut s.rng, "public, pg_catalog").await;
    lifecycle_phase(&s.app, &mut s.w, &mut s.rng, 60 * s.scale, &mut s.report).await;
    let mut u_in = None;
    for c in s.w.model.live_conversations() {
        // A member the matrix lets edit the channel.
        if let Some(m) =
            s.w.model
                .members_of(&c.workspace)
                .into_iter()
                .find(|(u, _)| s.w.model.may(&c.workspace, u, "conversation.edit_channel"))
        {
            u_in = Some((m.0, c.id.clone()));
            break;
        }
    }
    if let Some((u, cid)) = u_in {
        let o = attempt_as(
            &s.app,
            &Identity::Claims(u.clone()),
            &format!(
                "UPDATE support.conversations SET channel = 'api' WHERE id OPERATOR(pg_catalog.=) '{cid}'::uuid"
            ),
        )
        .await;
        assert_eq!(o.describe(), "00000 (1 rows)");
        s.w.model.conversations.get_mut(&cid).unwrap().channel = "api";
        s.w.model.next_tick();
    }
    let hijack_notices: Vec<String> = s
        .notices
        .take()
        .into_iter()
        .filter(|n| n.contains("HIJACKED"))
        .collect();
    let hijack_log: Vec<String> = texts(
        &s.owner,
        "SELECT fn || ' as ' || by_role FROM public.hijack_log",
    )
    .await;
    s.report.case("search_path hijack");
    if !hijack_notices.is_empty() || !hijack_log.is_empty() {
        s.report.leak(format!(
            "planted objects were called by the extension: notices {hijack_notices:?}, log {hijack_log:?}"
        ));
    }
    let bad_times: i64 = s
        .owner
        .query_one(
            "SELECT (SELECT count(*) FROM support.conversations WHERE created_at < '2002-01-01' OR updated_at < '2002-01-01' \
                     OR escalated_at < '2002-01-01' OR claimed_at < '2002-01-01' OR resolved_at < '2002-01-01' \
                     OR id = '00000000-0000-4000-8000-000000000bad') \
                  + (SELECT count(*) FROM support.conversation_events WHERE created_at < '2002-01-01' \
                     OR id = '00000000-0000-4000-8000-000000000bad' OR reason = 'hijacked' OR kind = 'changed') \
                  + (SELECT count(*) FROM support.conversation_messages WHERE created_at < '2002-01-01' \
                     OR id = '00000000-0000-4000-8000-000000000bad')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    s.report.case("search_path hijack");
    if bad_times != 0 {
        s.report.leak(format!(
            "{bad_times} rows carry a planted timestamp, id or event kind"
        ));
    }
    // The model still matches exactly (events, actors, kinds, queue order),
    // and every user still reads exactly their rows, under the hijacked path.
    s.truth = verify_model(&s.owner, &s.w.model, &mut s.report).await;
    for identity in s.identities.clone() {
        s.read_paths(&identity, true, false).await;
    }
    let leftover: i64 = s
        .owner
        .query_one("SELECT count(*) FROM public.hijack_log", &[])
        .await
        .unwrap()
        .get(0);
    s.report.case("search_path hijack");
    if leftover != 0 {
        s.report
            .leak(format!("{leftover} planted calls during the final reads"));
    }
    println!(
        "adversarial search_path_hijack: planted {planted:?}; {} lifecycle calls, inserts, updates, deletes and a \
         cascade ran under `{hijack_path}`: 0 planted calls, {} new events all as the model says",
        s.w.op_cases,
        s.w.model.events.len() - before_events
    );

    s.finish();
}

/// (a) Objects planted in public and pg_temp under the names the extension's
/// SECURITY DEFINER functions and triggers use.
async fn plant_hijack_objects(app: &Client, w: &World) -> Vec<String> {
    let foreign_user = w.model.users.keys().next().unwrap().clone();
    let every_ws = w
        .model
        .workspaces
        .keys()
        .cloned()
        .collect::<Vec<_>>()
        .join(",");
    app.batch_execute(
        "CREATE TABLE public.hijack_log (fn text, by_role text);
         GRANT ALL ON public.hijack_log TO PUBLIC;
         CREATE FUNCTION public.hijack_note(fn text) RETURNS void LANGUAGE plpgsql AS
           $$ BEGIN RAISE NOTICE 'HIJACKED %', fn; INSERT INTO public.hijack_log VALUES (fn, current_user); END $$;",
    )
    .await
    .unwrap();
    let mut planted = Vec::new();
    for schema in ["public", "pg_temp"] {
        let f = |name: &str, args: &str, ret: &str, value: &str| {
            format!(
                "CREATE FUNCTION {schema}.{name}({args}) RETURNS {ret} LANGUAGE plpgsql AS \
                 $$ BEGIN PERFORM public.hijack_note('{schema}.{name}'); RETURN {value}; END $$;"
            )
        };
        let sql = [
            f("now", "", "timestamptz", "'2001-01-01 00:00:00+00'"),
            f("clock_timestamp", "", "timestamptz", "'2001-01-01 00:00:00+00'"),
            f("statement_timestamp", "", "timestamptz", "'2001-01-01 00:00:00+00'"),
            f("current_setting", "text", "text", &format!("'{{\"sub\":\"{foreign_user}\"}}'")),
            f("current_setting", "text, boolean", "text", &format!("'{{\"sub\":\"{foreign_user}\"}}'")),
            f("set_config", "text, text, boolean", "text", "'off'"),
            f("row_security_active", "regclass", "boolean", "false"),
            f("row_security_active", "text", "boolean", "false"),
            f("gen_random_uuid", "", "uuid", &format!("'{PLANTED_UUID}'")),
            f("lifecycle_pending", "uuid", "text[]", "'{changed,hijacked}'"),
            f("current_user_id", "", "uuid", &format!("'{foreign_user}'")),
            f("member_workspaces", "", "uuid[]", &format!("'{{{every_ws}}}'")),
            f("workspace_member", "uuid", "boolean", "true"),
            f("uuid_eq", "uuid, uuid", "boolean", "true"),
            f("texteq", "text, text", "boolean", "true"),
            f("textne", "text, text", "boolean", "false"),
            f("timestamptz_le", "timestamptz, timestamptz", "boolean", "true"),
            f("int4pl", "integer, integer", "integer", "1000"),
            f("count", "", "bigint", "0"),
            format!("CREATE OPERATOR {schema}.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = {schema}.uuid_eq);"),
            format!("CREATE OPERATOR {schema}.= (LEFTARG = text, RIGHTARG = text, FUNCTION = {schema}.texteq);"),
            format!("CREATE OPERATOR {schema}.<> (LEFTARG = text, RIGHTARG = text, FUNCTION = {schema}.textne);"),
            format!("CREATE OPERATOR {schema}.<= (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = {schema}.timestamptz_le);"),
            format!("CREATE OPERATOR {schema}.+ (LEFTARG = integer, RIGHTARG = integer, FUNCTION = {schema}.int4pl);"),
        ]
        .join("\n");
        app.batch_execute(&sql)
            .await
            .unwrap_or_else(|e| panic!("planting in {schema}: {}", error_text(&e)));
        planted.push(format!("{schema}: now, clock_timestamp, statement_timestamp, current_setting x2, set_config, row_security_active x2, gen_random_uuid, lifecycle_pending, current_user_id, member_workspaces, workspace_member, count, operators = (uuid), = <> (text), <= (timestamptz), + (integer)"));
    }
    planted
}
