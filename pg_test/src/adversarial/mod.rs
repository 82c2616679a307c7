//! The adversarial world: seeded random tenants, their content and lifecycle history, checked against the reference model, that every attack family starts from.
//!
//! [`setup`] builds it in a database of the family's own: workspaces, users
//! with overlapping memberships and random roles, conversations, messages
//! and lifecycle events made through the lifecycle functions by the
//! application role, each compared with the reference model (crate::model);
//! then views and functions created by the application role, the attacker's
//! leaky functions, and the `CX_ADV_INJECT` weakness when asked for. The same
//! seed (`CX_SEED`) gives the same world in every family; `CX_ADV_SCALE=<n>`
//! multiplies the number of tenants and operations.

pub mod citus;
pub mod generate;
pub mod reads;
pub mod session;
pub mod staff;
pub mod truth;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use tokio_postgres::{Client, Statement};

use crate::checksum::checksum;
use crate::cluster::{connect_as, Notices, Target};
use crate::fixture::{fresh_database, APP_ROLE};
use crate::model::Model;
use crate::rng::{seed_from_env, usize_from_env, Rng};
use crate::roles::{ensure_role, grant_membership};
use generate::{
    deletion_phase, generate_content, generate_directory, lifecycle_phase, load_fixture,
};
use session::Identity;
use truth::{verify_model, Truth};

/// A login role that is a member of the application role, as an API server's
/// connection role would be: RESET ROLE leads back to it, not to a superuser.
pub const TENANT: &str = "cx_tenant";
pub const DEFAULT_SEED: u64 = 0x5eed_0000_0005_0004;

pub const CHANNELS: [&str; 6] = ["web", "email", "sms", "whatsapp", "voice", "api"];
pub const MESSAGE_ROLES: [&str; 4] = ["customer", "bot", "agent", "system"];

/// What one family's cases found.
#[derive(Default)]
pub struct Report {
    pub cases: u64,
    pub by_area: BTreeMap<&'static str, u64>,
    pub leaks: Vec<String>,
    pub failures: Vec<String>,
    /// Citus mode only: the Citus refusals accepted (see [`citus`]), by
    /// refusal and statement shape.
    pub citus_accepted: BTreeMap<String, u64>,
    /// Citus mode only: other documented differences met, by kind.
    pub citus_notes: BTreeMap<String, u64>,
    /// Citus mode only: product limitations met (fail-closed, reported).
    pub citus_limitations: BTreeMap<String, u64>,
}

impl Report {
    pub fn case(&mut self, area: &'static str) {
        self.cases += 1;
        *self.by_area.entry(area).or_default() += 1;
    }
    pub fn leak(&mut self, what: String) {
        if self.leaks.len() < 50 {
            eprintln!("LEAK: {what}");
        }
        self.leaks.push(what);
    }
    pub fn fail(&mut self, what: String) {
        if self.failures.len() < 50 {
            eprintln!("FAIL: {what}");
        }
        self.failures.push(what);
    }
    /// A Citus refusal accepted for statement shape `shape` (Citus mode only).
    pub fn citus_accept(&mut self, refusal: citus::Refusal, shape: &str) {
        *self
            .citus_accepted
            .entry(format!("{}: {shape}", refusal.label()))
            .or_default() += 1;
    }
    /// Another documented Citus difference met (Citus mode only).
    pub fn citus_note(&mut self, what: &str) {
        *self.citus_notes.entry(what.to_string()).or_default() += 1;
    }
    /// A product limitation of Citus mode met: counted, and printed at once
    /// on a line starting `citus limitation:` (the first three of a kind; the
    /// count of all of them at the end of the family).
    pub fn citus_limitation(&mut self, kind: &str, what: String) {
        let n = self.citus_limitations.entry(kind.to_string()).or_default();
        *n += 1;
        if *n <= 3 {
            println!("citus limitation: {kind}: {what}");
        }
    }
    /// One read-path case: extra rows are leaks, missing rows are failures.
    pub fn compare(
        &mut self,
        area: &'static str,
        label: &str,
        actual: Result<Vec<String>, String>,
        expected: &[String],
    ) {
        self.case(area);
        let actual = match actual {
            Ok(a) => a,
            Err(e) => return self.fail(format!("{label}: error {e}")),
        };
        let mut a = actual.clone();
        a.sort();
        let mut e = expected.to_vec();
        e.sort();
        if a == e {
            return;
        }
        let exp: BTreeSet<&String> = e.iter().collect();
        let act: BTreeSet<&String> = a.iter().collect();
        let extra: Vec<&&String> = act.difference(&exp).collect();
        let missing: Vec<&&String> = exp.difference(&act).collect();
        if !extra.is_empty() || a.len() > e.len() {
            self.leak(format!(
                "{label}: {} rows beyond the model, e.g. {:?}",
                a.len().saturating_sub(e.len()).max(extra.len()),
                extra.iter().take(3).collect::<Vec<_>>()
            ));
        } else {
            self.fail(format!(
                "{label}: {} rows missing, e.g. {:?}",
                missing.len(),
                missing.iter().take(3).collect::<Vec<_>>()
            ));
        }
    }
}

// ---------------------------------------------------------------- world

pub struct World {
    pub model: Model,
    /// Users that are not in support.users (a valid identity nobody created).
    pub ghost: String,
    /// Ids ever handed out for conversations and messages (deleted ones too).
    pub all_conversation_ids: Vec<String>,
    pub op_cases: u64,
    /// What is being run (for failure messages).
    pub phase: &'static str,
    /// The support staff and the workspaces of their story.
    pub staff: staff::Cast,
}

impl World {
    pub fn user_ids(&self) -> Vec<String> {
        self.model.users.keys().cloned().collect()
    }
    pub fn identities(&self) -> Vec<Identity> {
        let mut out: Vec<Identity> = self
            .user_ids()
            .iter()
            .enumerate()
            .map(|(i, u)| Identity::of(u, i))
            .collect();
        out.push(Identity::Claims(self.ghost.clone()));
        out.push(Identity::Nobody);
        out
    }
}

/// A built world and everything a family needs to attack it.
pub struct Setup {
    pub family: &'static str,
    pub db: String,
    pub started: Instant,
    pub scale: usize,
    /// The seeded stream, where building the world left it.
    pub rng: Rng,
    pub target: Target,
    /// The superuser.
    pub owner: Client,
    /// The tenant's login role, acting as the application role.
    pub app: Client,
    /// What the server sent `app`.
    pub notices: Notices,
    pub has_identity_mode: bool,
    pub report: Report,
    pub w: World,
    pub truth: Truth,
    /// `SELECT c::text FROM support.conversations c`, prepared once on `app`.
    pub prepared: Statement,
    /// The whole-database checksum of the built world.
    pub baseline: String,
    /// Every user (each through one of the identity settings), a valid
    /// identity nobody created, and nobody.
    pub identities: Vec<Identity>,
}

/// Builds the world for attack family `family` in database `cx_adv_<family>`.
pub async fn setup(family: &'static str) -> Setup {
    let started = Instant::now();
    let seed = seed_from_env("CX_SEED", DEFAULT_SEED);
    let scale = usize_from_env("CX_ADV_SCALE", 1).max(1);
    println!(
        "adversarial {family}: seed {seed:#x} (reproduce: CX_SEED={seed:#x} pg_test/run.sh --test adversarial {family}), scale {scale}"
    );
    let db = format!("cx_adv_{family}");
    let mut rng = Rng::new(seed);
    let target = Target::from_env();
    let owner = fresh_database(&db, &[]).await;
    ensure_role(&owner, TENANT, "LOGIN").await;
    grant_membership(&owner, APP_ROLE, TENANT).await;
    owner
        .batch_execute(&format!("GRANT CREATE ON SCHEMA public TO {APP_ROLE}"))
        .await
        .unwrap();
    let (app, notices) = connect_as(&target, TENANT, &db, "cx-adversarial")
        .await
        .expect("connect as the tenant login role");
    app.batch_execute(&format!("SET ROLE {APP_ROLE}"))
        .await
        .unwrap();
    let has_identity_mode = owner
        .query_one(
            "SELECT count(*) > 0 FROM pg_settings WHERE name = 'support.identity_mode'",
            &[],
        )
        .await
        .unwrap()
        .get::<_, bool>(0);

    let mut report = Report::default();
    let mut w = World {
        model: Model::default(),
        ghost: rng.uuid(),
        all_conversation_ids: Vec::new(),
        op_cases: 0,
        phase: "set-up",
        staff: Default::default(),
    };
    load_fixture(&owner, &mut w.model).await;
    generate_directory(&owner, &mut w, &mut rng, scale).await;
    staff::generate_staff(&owner, &app, &mut w, &mut rng, &mut report).await;
    generate_content(&app, &mut w, &mut rng, scale).await;
    lifecycle_phase(&app, &mut w, &mut rng, 300 * scale, &mut report).await;
    deletion_phase(&owner, &app, &mut w, &mut rng, "\"$user\", public").await;
    staff::refusal_phase(&owner, &app, &mut w, &mut report).await;
    lifecycle_phase(&app, &mut w, &mut rng, 100 * scale, &mut report).await;
    let truth = verify_model(&owner, &w.model, &mut report).await;
    println!(
        "adversarial {family}: {} workspaces ({} refuse staff), {} users ({} support staff), {} memberships ({} joined as staff), \
         {} conversations ({} deleted), {} messages, {} events; {} lifecycle calls matched the model",
        w.model.workspaces.len(),
        w.model.refuses_staff.len(),
        w.model.users.len(),
        w.model.staff.len(),
        w.model.members.len(),
        w.model.joined_as_staff.len(),
        w.model.live_conversations().count(),
        w.model.conversations.values().filter(|c| c.deleted).count(),
        w.model.messages.values().filter(|m| !m.deleted).count(),
        w.model.events.len(),
        w.op_cases
    );
    attacker_objects(&app).await;
    citus::attacker_objects_on_workers(&owner).await;
    inject_weakness(&owner, family).await;
    app.batch_execute(
        "PREPARE cx_generic(uuid[]) AS SELECT c.id::text FROM support.conversations c WHERE c.id = ANY($1)",
    )
    .await
    .unwrap();
    if citus::enabled() {
        // The generic plan Citus can make: one workspace, one shard (see reads).
        app.batch_execute(
            "PREPARE cx_generic_ws(uuid) AS SELECT c.id::text FROM support.conversations c WHERE c.workspace_id = $1",
        )
        .await
        .unwrap();
    }
    let prepared = app
        .prepare("SELECT c::text FROM support.conversations c")
        .await
        .unwrap();
    let baseline = checksum(&owner).await;
    let identities = w.identities();
    Setup {
        family,
        db,
        started,
        scale,
        rng,
        target,
        owner,
        app,
        notices,
        has_identity_mode,
        report,
        w,
        truth,
        prepared,
        baseline,
        identities,
    }
}

/// Views and functions created by the application role (read by every user
/// in the read paths), and the attacker's tools for the leak attacks:
/// functions that report every value they are given (a NOTICE and a row in a
/// table of their own), a leaky operator with a selectivity estimator, and a
/// table the role may read in full.
async fn attacker_objects(app: &Client) {
    app.batch_execute(
        "CREATE VIEW public.v_conversations AS SELECT * FROM support.conversations;
         CREATE VIEW public.v_conversations_invoker WITH (security_invoker = true) AS SELECT * FROM support.conversations;
         CREATE VIEW public.v_conversations_barrier WITH (security_barrier = true) AS SELECT * FROM support.conversations;
         CREATE VIEW public.v_messages AS SELECT * FROM support.conversation_messages;
         CREATE VIEW public.v_events AS SELECT * FROM support.conversation_events;
         CREATE VIEW public.v_users AS SELECT * FROM support.users;
         CREATE VIEW public.v_members AS SELECT * FROM support.workspace_members;
         CREATE VIEW public.v_workspaces AS SELECT * FROM support.workspaces;
         CREATE FUNCTION public.definer_conversations() RETURNS SETOF support.conversations
           LANGUAGE sql SECURITY DEFINER AS 'SELECT * FROM support.conversations';
         CREATE FUNCTION public.definer_messages() RETURNS SETOF support.conversation_messages
           LANGUAGE plpgsql SECURITY DEFINER AS $$ BEGIN RETURN QUERY SELECT * FROM support.conversation_messages; END $$;
         CREATE FUNCTION public.definer_rls_off() RETURNS SETOF support.conversations
           LANGUAGE plpgsql SECURITY DEFINER SET row_security = off
           AS $$ BEGIN RETURN QUERY SELECT * FROM support.conversations; END $$;",
    )
    .await
    .unwrap();
    app.batch_execute(
        "CREATE TABLE public.leak_log (v text);
         GRANT ALL ON public.leak_log TO PUBLIC;
         CREATE FUNCTION public.leak(v text) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 AS
           $$ BEGIN RAISE NOTICE 'leak:%', v; INSERT INTO public.leak_log VALUES (v); RETURN true; END $$;
         CREATE FUNCTION public.leak_notice(v text) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 PARALLEL SAFE AS
           $$ BEGIN RAISE NOTICE 'leak:%', v; RETURN true; END $$;
         CREATE FUNCTION public.leak_lt(a text, b text) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 AS
           $$ BEGIN RAISE NOTICE 'leak:%', a; INSERT INTO public.leak_log VALUES (a); RETURN a OPERATOR(pg_catalog.<) b; END $$;
         CREATE OPERATOR public.<<< (LEFTARG = text, RIGHTARG = text, FUNCTION = public.leak_lt, RESTRICT = scalarltsel);
         CREATE TABLE public.leak_control (subject text);
         INSERT INTO public.leak_control SELECT 'control-' || g FROM generate_series(1, 40) g;
         ANALYZE public.leak_control;",
    )
    .await
    .unwrap();
}

/// Self-test: `CX_ADV_INJECT=<sql>` runs as the superuser once the world is
/// built, e.g. a permissive policy or an unpinned trigger, to show that the
/// suite catches it. Two are named: `viewer-may-write` (the trigger that
/// refuses a viewer's new conversation is off: the server lets viewers write
/// while docs/permissions.tsv says 42501; nothing any user reads changes)
/// and `viewers-are-agents` (viewers become agents behind the model's back,
/// also seen by the read paths: the membership rows change); for support
/// staff, `staff-refusals-ignored` (every workspace allows staff again: staff
/// read workspaces that refused them) and `staff-sets-ignored` (every staff
/// user serves every workspace: the set's user reads outside the set).
async fn inject_weakness(owner: &Client, family: &str) {
    let Ok(inject) = std::env::var("CX_ADV_INJECT") else {
        return;
    };
    let inject = match inject.as_str() {
        "viewer-may-write" => {
            "ALTER TABLE support.conversations DISABLE TRIGGER conversations_before_insert"
                .to_string()
        }
        "viewers-are-agents" => {
            "UPDATE support.workspace_members SET role = 'agent' WHERE role = 'viewer'".to_string()
        }
        "staff-refusals-ignored" => "UPDATE support.workspaces SET staff_access = true".to_string(),
        "staff-sets-ignored" => "UPDATE support.staff SET all_workspaces = true".to_string(),
        _ => inject,
    };
    println!("adversarial {family}: injecting a weakness: {inject}");
    owner.batch_execute(&inject).await.unwrap();
}

impl Setup {
    /// Every read path for `identity`, against the current truth (see
    /// [`reads::read_paths`] for `hijack_safe` and `views`).
    pub async fn read_paths(&mut self, identity: &Identity, hijack_safe: bool, views: bool) {
        reads::read_paths(
            &self.app,
            &self.w,
            &self.truth,
            identity,
            &mut self.report,
            &self.prepared,
            hijack_safe,
            views,
        )
        .await;
    }

    /// Prints the family's counts and fails on any leak or failure.
    pub fn finish(self) {
        let (family, report) = (self.family, &self.report);
        println!("adversarial {family}: cases by area: {:?}", report.by_area);
        for (what, n) in &report.citus_accepted {
            println!("citus: {family}: accepted {n} refusals {what}");
        }
        for (what, n) in &report.citus_notes {
            println!("citus: {family}: {n} x {what}");
        }
        for (what, n) in &report.citus_limitations {
            println!("citus limitation: {family}: {n} x {what}");
        }
        println!(
            "adversarial {family}: {} cases ran, {} leaked ({} other failures) in {:?}",
            report.cases,
            report.leaks.len(),
            report.failures.len(),
            self.started.elapsed()
        );
        assert!(report.leaks.is_empty(), "leaks: {:#?}", report.leaks);
        assert!(
            report.failures.is_empty(),
            "failures: {:#?}",
            report.failures
        );
    }
}

/// `'{a,b,...}'::uuid[]`.
pub fn uuid_array(ids: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    let inner: Vec<String> = ids.into_iter().map(|s| s.as_ref().to_string()).collect();
    format!("'{{{}}}'::uuid[]", inner.join(","))
}
