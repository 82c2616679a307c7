#!/usr/bin/env python3
"""The permission matrix as a SQL regression test, generated from docs/permissions.tsv.

Writes tests/pg_regress/sql/permissions.sql (every action of the matrix as every subject,
each cell in its own savepoint) and tests/pg_regress/expected/permissions.out (what psql
prints when every cell's outcome is the matrix's). The expected output comes from the TSV,
never from running the server: pg_regress compares the server with the matrix.

    scripts/permissions_regress.py           rewrite both files
    scripts/permissions_regress.py --check   exit 1 (and say which) if they differ from what it writes

The actions are those of pg_test/src/matrix/plans.rs, on the same fixture
(pg_test/src/matrix/fixture.rs: same ids, same rows), so both tiers test the same thing.
A cell prints `action | subject | outcome`: `ok` when the action succeeded and its specific
effect is visible to the superuser afterwards (for a read: the subject read exactly the
superuser's rows of W, and there are some), else the SQLSTATE it was refused with. A `-` cell
(not applicable: the staff subject, not a member of W, holds no claim and wrote no message) is
not run: it is a comment in the SQL, and the plans must agree that exactly those cells lack
their precondition.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# CX_PERMISSIONS_TSV names another matrix (a self-test: a wrong cell must make pg_regress fail).
TSV = os.environ.get("CX_PERMISSIONS_TSV") or os.path.join(ROOT, "docs", "permissions.tsv")
SQL_OUT = os.path.join(ROOT, "tests", "pg_regress", "sql", "permissions.sql")
EXPECTED_OUT = os.path.join(ROOT, "tests", "pg_regress", "expected", "permissions.out")

SUBJECT_NAMES = ["owner", "admin", "agent", "viewer", "bot", "staff"]
NOT_APPLICABLE = "-"

# The fixture (pg_test/src/matrix/fixture.rs).
W = "c1000000-0000-4000-8000-000000000001"
X = "c2000000-0000-4000-8000-000000000002"
O = "d0000000-0000-4000-8000-000000000001"
O2 = "d0000000-0000-4000-8000-000000000002"
A = "d0000000-0000-4000-8000-000000000003"
G = "d0000000-0000-4000-8000-000000000004"
G2 = "d0000000-0000-4000-8000-000000000005"
V = "d0000000-0000-4000-8000-000000000006"
B = "d0000000-0000-4000-8000-000000000007"
N = "d0000000-0000-4000-8000-000000000008"
XO = "d0000000-0000-4000-8000-000000000009"
XG = "d0000000-0000-4000-8000-000000000010"
S = "d0000000-0000-4000-8000-000000000011"   # support staff: the staff column (role agent, all workspaces)
S2 = "d0000000-0000-4000-8000-000000000012"  # support staff who joins W in the set-up of staff.refuse
C_ACTIVE = "e0000000-0000-4000-8000-000000000001"
C_ESCALATED = "e0000000-0000-4000-8000-000000000002"
C_G2 = "e0000000-0000-4000-8000-000000000003"
C_RESOLVED = "e0000000-0000-4000-8000-000000000004"
C_X = "e0000000-0000-4000-8000-000000000021"
M_G2 = "f1000000-0000-4000-8000-000000000001"
M_CUSTOMER = "f1000000-0000-4000-8000-000000000002"
M_X = "f1000000-0000-4000-8000-000000000021"

# name, user id, a conversation of W it holds, a message in C_ACTIVE it wrote (None: staff, not a
# member of W, hold none), what support.workspace_role(W) answers it (staff act as viewers until
# they join: the header of docs/permissions.tsv).
SUBJECTS = [
    ("owner", O, "e0000000-0000-4000-8000-000000000011", "f1000000-0000-4000-8000-000000000011"),
    ("admin", A, "e0000000-0000-4000-8000-000000000012", "f1000000-0000-4000-8000-000000000012"),
    ("agent", G, "e0000000-0000-4000-8000-000000000013", "f1000000-0000-4000-8000-000000000013"),
    ("viewer", V, "e0000000-0000-4000-8000-000000000014", "f1000000-0000-4000-8000-000000000014"),
    ("bot", B, "e0000000-0000-4000-8000-000000000015", "f1000000-0000-4000-8000-000000000015"),
    ("staff", S, None, None),
]
MEMBERS = [s for s in SUBJECTS if s[2] is not None]
PLAYS = {name: ("viewer" if conv is None else name) for name, _, conv, _ in SUBJECTS}

# Actions whose precondition is something the subject holds (a claim, a message it wrote):
# not applicable to a subject that is not a member of W.
NEEDS_OWN = ["message.edit_own", "lifecycle.release_own", "lifecycle.transfer_own",
             "lifecycle.transfer_to_viewer", "lifecycle.transfer_to_bot", "lifecycle.resolve_own"]


def read_matrix(path):
    """[(action, {subject: cell})] in file order; exits on a malformed file."""
    rows, header = [], None
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if line.startswith("#") or not line.strip():
                continue
            fields = line.split("\t")
            if header is None:
                header = fields
                if header != ["action"] + SUBJECT_NAMES + ["what"]:
                    sys.exit(f"{path}:{n}: header is {header}")
                continue
            if len(fields) != len(header):
                sys.exit(f"{path}:{n}: {len(fields)} fields, expected {len(header)}")
            cells = fields[1:1 + len(SUBJECT_NAMES)]
            for c in cells:
                if not (c == "ok" or c == NOT_APPLICABLE or (len(c) == 5 and c.isalnum())):
                    sys.exit(f"{path}:{n}: cell {c!r} is neither ok, a SQLSTATE nor -")
            rows.append((fields[0], dict(zip(SUBJECT_NAMES, cells))))
    return rows


# Plans: the SQL templates of plans.rs. Placeholders, filled in per subject by
# pg_temp.cell(): {me} (the subject's id), {own} (the conversation it holds),
# {own_message} (the message it wrote), {msg_role} (bot for the bot, else
# agent); {new} in an effect is the first column the action returned.

def event(conv, kind, extra=""):
    return (f"EXISTS (SELECT 1 FROM support.conversation_events e WHERE e.conversation_id = '{conv}' "
            f"AND e.workspace_id = '{W}' AND e.kind = '{kind}' AND e.actor_id = '{{me}}'"
            + (f" {extra}" if extra else "") + ")")


def member_event(user, kind, extra=""):
    return (f"EXISTS (SELECT 1 FROM support.member_events e WHERE e.workspace_id = '{W}' AND e.user_id = '{user}' "
            f"AND e.kind = '{kind}' AND e.actor_id = '{{me}}'" + (f" {extra}" if extra else "") + ")")


def conv_is(conv, cond):
    return f"EXISTS (SELECT 1 FROM support.conversations c WHERE c.id = '{conv}' AND {cond})"


def role_is(user, cond):
    return (f"EXISTS (SELECT 1 FROM support.workspace_members m WHERE m.workspace_id = '{W}' "
            f"AND m.user_id = '{user}' AND {cond})")


def joined_as_staff(user):
    """The membership of `user` in W that joined as staff, with the role of their support.staff row."""
    return role_is(user, f"m.joined_as_staff AND m.role = (SELECT st.role FROM support.staff st WHERE st.user_id = '{user}')")


def staff_access_is(allowed):
    return f"EXISTS (SELECT 1 FROM support.workspaces w WHERE w.id = '{W}' AND w.staff_access = {allowed})"


def read(table, w_filter):
    agg = "SELECT coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')"
    return {"sql": f"{agg} FROM support.{table} t", "truth": f"{agg} FROM support.{table} t WHERE {w_filter}"}


def figures(function, truth):
    agg = "SELECT coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')"
    return {"sql": f"{agg} FROM support.{function} t", "truth": f"{agg} FROM ({truth.replace('{W}', W)}) t"}


QUEUE_TRUTH = "SELECT '{W}'::uuid, count(*) FILTER (WHERE c.status = 'active'), count(*) FILTER (WHERE c.status = 'escalated'), count(*) FILTER (WHERE c.status = 'claimed'), min(c.escalated_at) FILTER (WHERE c.status = 'escalated') FROM support.conversations c WHERE c.workspace_id = '{W}'"
AGENTS_TRUTH = "SELECT m.workspace_id, m.user_id, (SELECT count(*) FROM support.conversations c WHERE c.workspace_id = m.workspace_id AND c.claimed_by = m.user_id AND c.status = 'claimed'), (SELECT min(c.claimed_at) FROM support.conversations c WHERE c.workspace_id = m.workspace_id AND c.claimed_by = m.user_id AND c.status = 'claimed') FROM support.workspace_members m JOIN support.users u ON u.id = m.user_id WHERE m.workspace_id = '{W}' AND u.kind = 'human' AND m.role IN ('owner', 'admin', 'agent')"
SLA_TRUTH = "SELECT '{W}'::uuid, count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY c.first_agent_reply_at - c.created_at), percentile_cont(0.9) WITHIN GROUP (ORDER BY c.first_agent_reply_at - c.created_at), percentile_cont(0.5) WITHIN GROUP (ORDER BY c.resolved_at - c.created_at), percentile_cont(0.9) WITHIN GROUP (ORDER BY c.resolved_at - c.created_at), (count(*) FILTER (WHERE c.reopen_count > 0))::float8 / NULLIF(count(*) FILTER (WHERE c.resolved_at IS NOT NULL OR c.reopen_count > 0), 0) FROM support.conversations c WHERE c.workspace_id = '{W}' AND c.created_at >= now() - interval '1 day' AND c.created_at < now() + interval '1 day'"


def act(sql, effect, setup=None):
    return {"sql": sql, "effect": effect, "setup": setup}


def lifecycle(call, effect):
    return act(f"SELECT x.id::text FROM {call} AS x", effect)


def membership(call, effect, setup=None):
    return act(f"SELECT x.user_id::text FROM {call} AS x", effect, setup)


def post(role):
    return act(
        f"INSERT INTO support.conversation_messages (conversation_id, role, content) "
        f"VALUES ('{C_ACTIVE}', '{role}', 'perm-posted') RETURNING id::text",
        f"EXISTS (SELECT 1 FROM support.conversation_messages m WHERE m.id = '{{new}}' "
        f"AND m.workspace_id = '{W}' AND m.conversation_id = '{C_ACTIVE}' AND m.role = '{role}' "
        f"AND m.author_id = '{{me}}' AND m.content = 'perm-posted')")


UNASSIGNED = (conv_is(C_G2, "c.status = 'escalated' AND c.claimed_by IS NULL")
              + f" AND EXISTS (SELECT 1 FROM support.conversation_events e WHERE e.conversation_id = '{C_G2}' "
              f"AND e.kind = 'unassigned' AND e.from_owner = '{G2}' AND e.to_status = 'escalated')")


def plans():
    p = {
        # The users who share W, and the subject itself (for a member, one of them).
        "read.users": read("users", f"(t.id IN (SELECT user_id FROM support.workspace_members WHERE workspace_id = '{W}') "
                                    "OR t.id = '{me}')"),
        "read.workspaces": read("workspaces", f"t.id = '{W}'"),
        "read.workspace_members": read("workspace_members", f"t.workspace_id = '{W}'"),
        "read.conversations": read("conversations", f"t.workspace_id = '{W}'"),
        "read.conversation_reads": read("conversation_reads", f"t.workspace_id = '{W}' AND t.user_id = '{{me}}'"),
        # The rule of docs/api.md ("Read state and unread counts"), as the
        # superuser computes it: per open conversation of W, the messages after
        # the subject's position that others wrote.
        "reads.unread_counts": {
            "sql": "SELECT coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '') FROM support.unread_counts() t",
            "truth": "SELECT coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '') FROM ("
                     "SELECT c.workspace_id, c.id, count(*) FROM support.conversations c "
                     "JOIN support.conversation_messages m ON m.conversation_id = c.id "
                     f"WHERE c.workspace_id = '{W}' AND c.status <> 'resolved' AND m.author_id IS DISTINCT FROM '{{me}}' "
                     "AND NOT EXISTS (SELECT 1 FROM support.conversation_reads r WHERE r.conversation_id = c.id "
                     "AND r.user_id = '{me}' AND (m.created_at, m.id) <= (r.read_created_at, r.read_message_id)) "
                     "GROUP BY c.workspace_id, c.id) t"},
        # The figures of W by their rules (docs/api.md, "Queue and SLA figures"),
        # as the superuser computes them.
        "figures.queue": figures("queue_figures()", QUEUE_TRUTH),
        "figures.agents": figures("agent_figures()", AGENTS_TRUTH),
        "figures.sla": figures("sla_figures(now() - interval '1 day', now() + interval '1 day')", SLA_TRUTH),
        # W's channel, as the notification triggers derive it.
        "notifications.channel": {"sql": f"SELECT support.notification_channel('{W}')",
                                  "truth": f"SELECT support.notification_channel_of('{W}')"},
        # W's messages with the word, by the rule (W's configuration is simple).
        "search.messages": {
            "sql": "SELECT coalesce(string_agg(t.message_id::text, E'\\n' ORDER BY t.message_id::text), '') "
                   "FROM support.search_messages('written', 1000) t",
            "truth": "SELECT coalesce(string_agg(m.id::text, E'\\n' ORDER BY m.id::text), '') "
                     f"FROM support.conversation_messages m WHERE m.workspace_id = '{W}' "
                     "AND to_tsvector('simple', m.content) @@ websearch_to_tsquery('simple', 'written')"},
        "search.set_config": act(
            f"SELECT support.set_search_config('{W}', 'english')::text",
            "'{new}' = 'english' AND "
            f"EXISTS (SELECT 1 FROM support.workspaces w WHERE w.id = '{W}' AND w.search_config = 'english') "
            "AND NOT EXISTS (SELECT 1 FROM support.conversation_messages m "
            f"WHERE m.workspace_id = '{W}' AND m.search_config <> 'english')"),
        "reads.mark": act(
            f"SELECT '{C_ACTIVE}' FROM support.mark_read('{C_ACTIVE}')",
            f"EXISTS (SELECT 1 FROM support.conversation_reads r WHERE r.conversation_id = '{C_ACTIVE}' "
            "AND r.user_id = '{me}' AND (r.read_created_at, r.read_message_id) = "
            f"(SELECT m.created_at, m.id FROM support.conversation_messages m WHERE m.conversation_id = '{C_ACTIVE}' "
            "ORDER BY m.created_at DESC, m.id DESC LIMIT 1))"),
        "read.conversation_messages": read("conversation_messages", f"t.workspace_id = '{W}'"),
        "read.conversation_events": read("conversation_events", f"t.workspace_id = '{W}'"),
        "read.member_events": read("member_events", f"t.workspace_id = '{W}'"),
        "conversation.create": act(
            f"INSERT INTO support.conversations (workspace_id, subject) VALUES ('{W}', 'perm-new') RETURNING id::text",
            f"EXISTS (SELECT 1 FROM support.conversations c WHERE c.id = '{{new}}' AND c.workspace_id = '{W}' "
            f"AND c.subject = 'perm-new' AND c.status = 'active' "
            f"AND c.number = (SELECT k.last_number FROM support.conversation_counters k WHERE k.workspace_id = '{W}') "
            f"AND c.number = (SELECT count(*) FROM support.conversations x WHERE x.workspace_id = '{W}')) AND "
            + event("{new}", "created", "AND e.to_status = 'active'")),
        "conversation.choose_number": act(
            f"INSERT INTO support.conversations (workspace_id, subject, number) VALUES ('{W}', 'perm-numbered', 1000) "
            f"RETURNING id::text",
            "EXISTS (SELECT 1 FROM support.conversations c WHERE c.id = '{new}' AND c.number = 1000)"),
        "conversation.edit_number": act(
            f"UPDATE support.conversations SET number = 1000 WHERE id = '{C_ACTIVE}' RETURNING id::text",
            conv_is(C_ACTIVE, "c.number = 1000")),
        "conversation.edit_subject": act(
            f"UPDATE support.conversations SET subject = 'perm-edited' WHERE id = '{C_ACTIVE}' RETURNING id::text",
            conv_is(C_ACTIVE, "c.subject = 'perm-edited'")),
        "conversation.edit_channel": act(
            f"UPDATE support.conversations SET channel = 'email' WHERE id = '{C_ACTIVE}' RETURNING id::text",
            conv_is(C_ACTIVE, "c.channel = 'email'")),
        "conversation.delete": act(
            f"DELETE FROM support.conversations WHERE id = '{C_ACTIVE}' RETURNING id::text",
            f"NOT EXISTS (SELECT 1 FROM support.conversations WHERE id = '{C_ACTIVE}') "
            f"AND NOT EXISTS (SELECT 1 FROM support.conversation_messages WHERE conversation_id = '{C_ACTIVE}') "
            f"AND {event(C_ACTIVE, 'deleted', 'AND e.from_status = ' + chr(39) + 'active' + chr(39))} "
            f"AND NOT EXISTS (SELECT 1 FROM support.conversation_events e "
            f"WHERE e.conversation_id = '{C_ACTIVE}' AND e.kind = 'message_deleted')"),
        "message.post_customer": post("customer"),
        "message.post_bot": post("bot"),
        "message.post_agent": post("agent"),
        "message.post_system": post("system"),
        "message.post_as_other": act(
            f"INSERT INTO support.conversation_messages (conversation_id, role, author_id, content) "
            f"VALUES ('{C_ACTIVE}', '{{msg_role}}', '{G2}', 'perm-forged') RETURNING id::text",
            "EXISTS (SELECT 1 FROM support.conversation_messages m WHERE m.id = '{new}')"),
        "message.edit_own": act(
            "UPDATE support.conversation_messages SET content = 'perm-edited' WHERE id = '{own_message}' RETURNING id::text",
            "EXISTS (SELECT 1 FROM support.conversation_messages m WHERE m.id = '{own_message}' AND m.content = 'perm-edited') AND "
            + event(C_ACTIVE, "message_edited", "AND e.message_id = '{own_message}'")),
        "message.edit_other": act(
            f"UPDATE support.conversation_messages SET content = 'perm-edited' WHERE id = '{M_G2}' RETURNING id::text",
            f"EXISTS (SELECT 1 FROM support.conversation_messages m WHERE m.id = '{M_G2}' AND m.content = 'perm-edited')"),
        "message.delete": act(
            f"DELETE FROM support.conversation_messages WHERE id = '{M_G2}' RETURNING id::text",
            f"NOT EXISTS (SELECT 1 FROM support.conversation_messages WHERE id = '{M_G2}') AND "
            + event(C_ACTIVE, "message_deleted", f"AND e.message_id = '{M_G2}'")),
        "lifecycle.escalate": lifecycle(
            f"support.escalate_conversation('{C_ACTIVE}', 'perm-reason')",
            conv_is(C_ACTIVE, "c.status = 'escalated' AND c.escalated_at IS NOT NULL") + " AND "
            + event(C_ACTIVE, "escalated", "AND e.reason = 'perm-reason' AND e.from_status = 'active'")),
    }
    claimed = (f"'{{new}}' = '{C_ESCALATED}' AND "
               + conv_is(C_ESCALATED, "c.status = 'claimed' AND c.claimed_by = '{me}'") + " AND "
               + event(C_ESCALATED, "claimed", "AND e.to_owner = '{me}' AND e.from_status = 'escalated'"))
    p["lifecycle.claim"] = lifecycle(f"support.claim_conversation('{C_ESCALATED}')", claimed)
    p["lifecycle.claim_next"] = lifecycle(f"support.claim_next_conversation('{W}')", claimed)
    for which, conv, holder in (("own", "{own}", "{me}"), ("other", C_G2, G2)):
        p[f"lifecycle.release_{which}"] = lifecycle(
            f"support.release_conversation('{conv}')",
            conv_is(conv, "c.status = 'escalated' AND c.claimed_by IS NULL") + " AND "
            + event(conv, "released", f"AND e.from_owner = '{holder}' AND e.to_owner IS NULL"))
    for action, conv, holder, to in (("lifecycle.transfer_own", "{own}", "{me}", G2),
                                     ("lifecycle.transfer_other", C_G2, G2, O2),
                                     ("lifecycle.transfer_to_viewer", "{own}", "{me}", V),
                                     ("lifecycle.transfer_to_bot", "{own}", "{me}", B)):
        p[action] = lifecycle(
            f"support.transfer_conversation('{conv}', '{to}')",
            conv_is(conv, f"c.status = 'claimed' AND c.claimed_by = '{to}'") + " AND "
            + event(conv, "transferred", f"AND e.from_owner = '{holder}' AND e.to_owner = '{to}'"))
    for action, conv, frm in (("lifecycle.resolve_own", "{own}", "claimed"),
                              ("lifecycle.resolve_other", C_G2, "claimed"),
                              ("lifecycle.resolve_active", C_ACTIVE, "active")):
        p[action] = lifecycle(
            f"support.resolve_conversation('{conv}')",
            conv_is(conv, "c.status = 'resolved' AND c.claimed_by IS NULL AND c.resolved_at IS NOT NULL") + " AND "
            + event(conv, "resolved", f"AND e.from_status = '{frm}'"))
    p["lifecycle.reopen"] = lifecycle(
        f"support.reopen_conversation('{C_RESOLVED}')",
        conv_is(C_RESOLVED, "c.status = 'escalated' AND c.reopen_count = 1") + " AND "
        + event(C_RESOLVED, "reopened", "AND e.from_status = 'resolved'"))
    for role in ("agent", "owner"):
        p[f"members.add_{role}"] = membership(
            f"support.add_member('{W}', '{N}', '{role}')",
            role_is(N, f"m.role = '{role}'") + " AND " + member_event(N, "added", f"AND e.to_role = '{role}'"))
    for action, user, frm, to in (("members.demote_agent", G2, "agent", "viewer"),
                                  ("members.promote_to_owner", G2, "agent", "owner"),
                                  ("members.demote_owner", O2, "owner", "admin")):
        effect = (role_is(user, f"m.role = '{to}'") + " AND "
                  + member_event(user, "role_changed", f"AND e.from_role = '{frm}' AND e.to_role = '{to}'"))
        if to == "viewer":
            effect += " AND " + UNASSIGNED
        p[action] = membership(f"support.set_member_role('{W}', '{user}', '{to}')", effect)
    for action, user, frm in (("members.remove_agent", G2, "agent"), ("members.remove_owner", O2, "owner")):
        effect = "NOT " + role_is(user, "true") + " AND " + member_event(user, "removed", f"AND e.from_role = '{frm}'")
        if user == G2:
            effect += " AND " + UNASSIGNED
        p[action] = membership(f"support.remove_member('{W}', '{user}')", effect)
    last_owner_setup = f"UPDATE support.workspace_members SET role = 'admin' WHERE workspace_id = '{W}' AND user_id = '{O2}'"
    p["members.demote_last_owner"] = membership(
        f"support.set_member_role('{W}', '{O}', 'admin')", "NOT " + role_is(O, "m.role = 'owner'"), last_owner_setup)
    p["members.remove_last_owner"] = membership(
        f"support.remove_member('{W}', '{O}')", "NOT " + role_is(O, "m.role = 'owner'"), last_owner_setup)
    p["staff.join"] = membership(
        f"support.join_as_staff('{W}')",
        "'{new}' = '{me}' AND " + joined_as_staff("{me}") + " AND "
        + member_event("{me}", "added", "AND e.to_role = (SELECT st.role FROM support.staff st WHERE st.user_id = '{me}')"))
    # S2 (staff) has joined W and holds the waiting conversation: the refusal removes them, and
    # their claim goes back to the queue.
    p["staff.refuse"] = act(
        f"SELECT support.set_staff_access('{W}', false)::text",
        "'{new}' = 'false' AND " + staff_access_is("false") + " AND " + member_event("{me}", "staff_refused")
        + " AND NOT " + role_is(S2, "true") + " AND " + member_event(S2, "removed", "AND e.from_role = 'agent'")
        + " AND " + conv_is(C_ESCALATED, "c.status = 'escalated' AND c.claimed_by IS NULL")
        + f" AND EXISTS (SELECT 1 FROM support.conversation_events e WHERE e.conversation_id = '{C_ESCALATED}' "
        f"AND e.kind = 'unassigned' AND e.from_owner = '{S2}' AND e.to_status = 'escalated' AND e.actor_id = '{{me}}')",
        f"SET LOCAL ROLE support_app; SET LOCAL support.user_id = '{S2}'; "
        f"SELECT support.join_as_staff('{W}'); SELECT support.claim_conversation('{C_ESCALATED}'); "
        "RESET ROLE; SET LOCAL support.user_id = ''; "
        f"DO $$ BEGIN IF NOT {joined_as_staff(S2)} OR NOT {conv_is(C_ESCALATED, f'c.claimed_by = {chr(39)}{S2}{chr(39)}')} "
        "THEN RAISE 'staff.refuse: S2 did not join W and claim'; END IF; END $$;")
    p["staff.allow"] = act(
        f"SELECT support.set_staff_access('{W}', true)::text",
        "'{new}' = 'true' AND " + staff_access_is("true") + " AND " + member_event("{me}", "staff_allowed"),
        f"UPDATE support.workspaces SET staff_access = false WHERE id = '{W}'")
    return p


def q_uuid(u):
    return "NULL" if u is None else f"'{u}'"


def q(s):
    """A SQL literal that needs no escaping: dollar-quoted."""
    if s is None:
        return "NULL"
    assert "$p$" not in s
    return "$p$" + s + "$p$"


HEADER = """\
-- GENERATED by scripts/permissions_regress.py from docs/permissions.tsv: do not edit;
-- change the matrix (or the script) and run the script, which writes this file and its
-- expected output (expected/permissions.out, derived from the matrix, not from a server).
--
-- The permission matrix as SQL: every action of docs/permissions.tsv as every subject
-- (owner, admin, agent, viewer: humans with that workspace role; bot: a member of kind
-- bot with role agent; staff: support staff, role agent, all workspaces, not a member of
-- W, which allows staff), on the fixture of pg_test/src/matrix/fixture.rs, with the
-- actions of pg_test/src/matrix/plans.rs. Each cell runs in its own savepoint as the
-- application role with a transaction-local identity, and prints
--   action | subject | outcome
-- outcome: ok (it succeeded and its specific effect is visible to the superuser; a read
-- returned exactly the superuser's rows of W, and some), else the SQLSTATE it was refused
-- with. A `-` cell (not applicable) is a comment. Everything is rolled back at the end.
"""

CELL_FUNCTION = r"""CREATE FUNCTION pg_temp.cell(action text, subject text) RETURNS text
LANGUAGE plpgsql AS $cell$
DECLARE
    s pg_temp.subjects;
    p pg_temp.plans;
    act text;
    got text;
    truth text;
    visible boolean;
    outcome text := 'ok';
BEGIN
    SELECT * INTO STRICT s FROM pg_temp.subjects AS x WHERE x.name = cell.subject;
    SELECT * INTO STRICT p FROM pg_temp.plans AS x WHERE x.action = cell.action;
    act := replace(replace(replace(replace(p.sql, '{me}', s.id::text), '{own}', coalesce(s.own_conversation::text, '')),
                   '{own_message}', coalesce(s.own_message::text, '')), '{msg_role}', s.msg_role);
    IF p.setup IS NOT NULL THEN
        EXECUTE p.setup;
    END IF;
    BEGIN
        SET LOCAL ROLE support_app;
        PERFORM set_config('support.user_id', s.id::text, true);
        EXECUTE act INTO got;
        RESET ROLE;
    EXCEPTION WHEN OTHERS THEN
        outcome := SQLSTATE;
    END;
    PERFORM set_config('support.user_id', '', true);
    IF outcome = 'ok' AND p.truth IS NOT NULL THEN
        EXECUTE replace(p.truth, '{me}', s.id::text) INTO truth;
        IF got IS DISTINCT FROM truth OR truth = '' THEN
            outcome := 'ok, but it read other rows than the superuser sees in W';
        END IF;
    ELSIF outcome = 'ok' THEN
        EXECUTE 'SELECT (' || replace(replace(replace(replace(p.effect, '{new}', coalesce(got, '')), '{me}', s.id::text),
                     '{own}', coalesce(s.own_conversation::text, '')), '{own_message}', coalesce(s.own_message::text, ''))
                     || ')'
           INTO visible;
        IF visible IS NOT TRUE THEN
            outcome := 'ok, but its effect is not visible';
        END IF;
    END IF;
    RETURN action || ' | ' || subject || ' | ' || outcome;
END
$cell$;"""


def fixture_sql():
    users = [(O, "human", "O"), (O2, "human", "O2"), (A, "human", "A"), (G, "human", "G"), (G2, "human", "G2"),
             (V, "human", "V"), (B, "bot", "B"), (N, "human", "N"), (XO, "human", "XO"), (XG, "human", "XG"),
             (S, "human", "S"), (S2, "human", "S2")]
    lines = ["-- The fixture (pg_test/src/matrix/fixture.rs): workspace W with human owners O and O2,",
             "-- admin A, agents G and G2, viewer V, bot B and N (not a member yet); workspace X with",
             "-- its own owner, agent, conversation and message. Members are added by the owners",
             "-- through support.add_member; conversations, claims and messages by the superuser.",
             "-- Support staff S (the staff column) and S2 (joins W in the set-up of staff.refuse):",
             "-- role agent, all workspaces, members of none. W allows staff; X's owner refuses them.",
             "INSERT INTO support.users (id, kind, display_name) VALUES"]
    lines += [f"  ('{u}', '{k}', '{n}')" + ("," if i < len(users) - 1 else ";") for i, (u, k, n) in enumerate(users)]
    lines += [f"INSERT INTO support.workspaces (id, name) VALUES ('{W}', 'W'), ('{X}', 'X');",
              f"INSERT INTO support.staff (user_id, role) VALUES ('{S}', 'agent'), ('{S2}', 'agent');",
              "INSERT INTO support.workspace_members (workspace_id, user_id, role) VALUES",
              f"  ('{W}', '{O}', 'owner'), ('{X}', '{XO}', 'owner');",
              "INSERT INTO support.jwt_keys (kid, alg, key) VALUES ('perm-k1', 'HS256', repeat('k', 40));",
              "SET LOCAL ROLE support_app;",
              f"SET LOCAL support.user_id = '{O}';"]
    for user, role in ((O2, "owner"), (A, "admin"), (G, "agent"), (G2, "agent"), (V, "viewer"), (B, "agent")):
        lines.append(f"SELECT count(*) AS added FROM support.add_member('{W}', '{user}', '{role}') \\g /dev/null")
    lines += [f"SET LOCAL support.user_id = '{XO}';",
              f"SELECT count(*) AS added FROM support.add_member('{X}', '{XG}', 'agent') \\g /dev/null",
              f"SELECT support.set_staff_access('{X}', false) \\g /dev/null",
              "SET LOCAL support.user_id = '';",
              "RESET ROLE;",
              "INSERT INTO support.conversations (id, workspace_id, status, subject, bot_user_id) VALUES",
              f"  ('{C_ACTIVE}', '{W}', 'active', 'active one', '{B}'),",
              f"  ('{C_ESCALATED}', '{W}', 'escalated', 'waiting one', NULL),",
              f"  ('{C_G2}', '{W}', 'escalated', 'held by G2', NULL),",
              f"  ('{C_RESOLVED}', '{W}', 'active', 'resolved one', NULL),",
              f"  ('{C_X}', '{X}', 'escalated', 'other tenant', NULL);",
              "UPDATE support.conversations SET escalated_at = now() - interval '1 hour' WHERE status = 'escalated';",
              f"UPDATE support.conversations SET status = 'resolved', resolved_at = now() WHERE id = '{C_RESOLVED}';",
              f"UPDATE support.conversations SET status = 'claimed', claimed_by = '{G2}', claimed_at = now() WHERE id = '{C_G2}';",
              "INSERT INTO support.conversation_messages (id, workspace_id, conversation_id, role, author_id, content) VALUES",
              f"  ('{M_G2}', '{W}', '{C_ACTIVE}', 'agent', '{G2}', 'written by G2'),",
              f"  ('{M_CUSTOMER}', '{W}', '{C_ACTIVE}', 'customer', '{B}', 'relayed by B'),",
              f"  ('{M_X}', '{X}', '{C_X}', 'agent', '{XG}', 'other tenant''s message');",
              "INSERT INTO support.conversations (id, workspace_id, status, escalated_at, subject) VALUES"]
    lines += [f"  ('{conv}', '{W}', 'escalated', now() - interval '2 hours', 'held by {name}')"
              + ("," if i < len(MEMBERS) - 1 else ";") for i, (name, _, conv, _) in enumerate(MEMBERS)]
    for name, uid, conv, msg in MEMBERS:
        lines.append(f"UPDATE support.conversations SET status = 'claimed', claimed_by = '{uid}', claimed_at = now() WHERE id = '{conv}';")
    lines.append("INSERT INTO support.conversation_messages (id, workspace_id, conversation_id, role, author_id, content) VALUES")
    lines += [f"  ('{msg}', '{W}', '{C_ACTIVE}', '{'bot' if name == 'bot' else 'agent'}', '{uid}', 'written by {name}')"
              + ("," if i < len(MEMBERS) - 1 else ";") for i, (name, uid, _, msg) in enumerate(MEMBERS)]
    lines += ["-- Read positions: every member subject, G2 and S at M_G2 in C_ACTIVE, XG in X.",
              "INSERT INTO support.conversation_reads (workspace_id, conversation_id, user_id, read_created_at, read_message_id)",
              "SELECT m.workspace_id, m.conversation_id, u.id, m.created_at, m.id",
              "  FROM support.conversation_messages m, support.users u",
              f" WHERE (m.id = '{M_G2}' AND u.id IN ('{O}', '{A}', '{G}', '{G2}', '{V}', '{B}', '{S}'))",
              f"    OR (m.id = '{M_X}' AND u.id = '{XG}');"]
    return lines


def generate(matrix):
    """(sql text, expected text)."""
    plan = plans()
    actions = [a for a, _ in matrix]
    unknown = [a for a in actions if a not in plan]
    missing = [a for a in plan if a not in actions]
    if unknown or missing:
        sys.exit(f"docs/permissions.tsv and this script disagree: actions without a plan {unknown}, "
                 f"plans without an action {missing}")
    # Each element: (sql line, [output lines]).
    out = [(line, []) for line in HEADER.rstrip("\n").split("\n")]
    out += [("\\pset format unaligned", []), ("\\pset tuples_only on", []), ("\\set VERBOSITY terse", []),
            ("BEGIN;", [])]
    out += [(line, []) for line in fixture_sql()]
    members = {name for name, _, conv, _ in MEMBERS}
    # `-` exactly where the subject cannot have what the action needs.
    wrong = [f"{a} x {name}: {cells[name]}" for a, cells in matrix for name in SUBJECT_NAMES
             if (cells[name] == NOT_APPLICABLE) != (a in NEEDS_OWN and name not in members)]
    if wrong:
        sys.exit("docs/permissions.tsv and this script disagree on what is not applicable (-: exactly the actions "
                 "needing a claim or a message of the subject, for a subject that is not a member of W): "
                 + "; ".join(wrong))
    out += [("-- The fixture is what the cells assume: one conversation waiting in W, each subject",
             []),
            ("-- holds its conversation (staff: none, not a member of W) and plays its column", []),
            ("-- (support.workspace_role: staff act as viewers); S and S2 are staff of every workspace", []),
            ("-- that allows staff, members of none; W allows staff, X refuses them.", []),
            (f"SELECT 'waiting in W: ' || count(*) FROM support.conversations WHERE workspace_id = '{W}' AND status = 'escalated';",
             ["waiting in W: 1"]),
            ("SELECT 'staff ' || display_name || ': ' || s.role || ', all workspaces ' || s.all_workspaces || ', memberships '"
             " || (SELECT count(*) FROM support.workspace_members m WHERE m.user_id = s.user_id)"
             " FROM support.staff s JOIN support.users u ON u.id = s.user_id ORDER BY display_name;",
             ["staff S: agent, all workspaces true, memberships 0", "staff S2: agent, all workspaces true, memberships 0"]),
            ("SELECT name || ' allows staff: ' || staff_access FROM support.workspaces ORDER BY name;",
             ["W allows staff: true", "X allows staff: false"])]
    subject_rows = ",\n".join(
        f"  ('{name}', '{uid}', {q_uuid(conv)}, {q_uuid(msg)}, '{'bot' if name == 'bot' else 'agent'}')"
        for name, uid, conv, msg in SUBJECTS)
    create_subjects = ("CREATE TEMP TABLE subjects (name text PRIMARY KEY, id uuid, own_conversation uuid, "
                       "own_message uuid, msg_role text) ON COMMIT DROP;")
    out.append((create_subjects, []))
    out.append(("INSERT INTO pg_temp.subjects VALUES", []))
    out += [(line, []) for line in subject_rows.split("\n")]
    out[-1] = (out[-1][0] + ";", [])
    out.append(("CREATE FUNCTION pg_temp.role_as(uid uuid) RETURNS text LANGUAGE plpgsql AS "
                f"$f$ BEGIN PERFORM set_config('support.user_id', uid::text, true); "
                f"RETURN support.workspace_role('{W}'); END $f$;", []))
    order = ", ".join(f"'{name}'" for name in SUBJECT_NAMES)
    out.append(("SELECT s.name || ' holds ' || coalesce(c.subject, 'nothing') || ', plays ' || pg_temp.role_as(s.id) "
                f"|| ', member of W: ' || EXISTS (SELECT 1 FROM support.workspace_members m WHERE m.workspace_id = '{W}' "
                "AND m.user_id = s.id) FROM pg_temp.subjects s "
                "LEFT JOIN support.conversations c ON c.id = s.own_conversation AND c.claimed_by = s.id "
                f"ORDER BY array_position(ARRAY[{order}], s.name);",
                [f"{name} holds {'held by ' + name if name in members else 'nothing'}, plays {PLAYS[name]}, "
                 f"member of W: {'true' if name in members else 'false'}" for name in SUBJECT_NAMES]))
    out.append(("SET LOCAL support.user_id = '';", []))
    out.append(("CREATE TEMP TABLE plans (action text PRIMARY KEY, setup text, sql text, effect text, truth text) ON COMMIT DROP;", []))
    out.append(("-- One row per action: the SQL the subject runs ({me}, {own}, {own_message}, {msg_role} are", []))
    out.append(("-- the subject's), set-up by the superuser first, and the effect (or for a read, the truth).", []))
    out.append(("INSERT INTO pg_temp.plans VALUES", []))
    for i, a in enumerate(actions):
        pl = plan[a]
        end = "," if i < len(actions) - 1 else ";"
        out.append((f"  ('{a}', {q(pl.get('setup'))}, {q(pl['sql'])}, {q(pl.get('effect'))}, {q(pl.get('truth'))}){end}", []))
    out += [(line, []) for line in CELL_FUNCTION.split("\n")]
    for a, cells in matrix:
        for name in SUBJECT_NAMES:
            if cells[name] == NOT_APPLICABLE:
                out.append((f"-- {a} | {name} | - (not applicable: the subject holds no claim and wrote no message)", []))
                continue
            out.append((f"SAVEPOINT cell; SELECT pg_temp.cell('{a}', '{name}'); ROLLBACK TO SAVEPOINT cell;",
                        [f"{a} | {name} | {cells[name]}"]))
    out.append(("ROLLBACK;", []))
    sql = "".join(line + "\n" for line, _ in out)
    expected = "".join(line + "\n" + "".join(o + "\n" for o in outs) for line, outs in out)
    return sql, expected


def main():
    check = "--check" in sys.argv[1:]
    sql, expected = generate(read_matrix(TSV))
    stale = []
    for path, text in ((SQL_OUT, sql), (EXPECTED_OUT, expected)):
        try:
            with open(path, encoding="utf-8") as f:
                current = f.read()
        except FileNotFoundError:
            current = None
        if current != text:
            stale.append(os.path.relpath(path, ROOT))
            if not check:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(text)
    if check and stale:
        print("not what scripts/permissions_regress.py generates from docs/permissions.tsv: "
              + ", ".join(stale) + " (run scripts/permissions_regress.py)", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
