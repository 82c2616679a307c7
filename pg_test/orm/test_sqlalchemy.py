#!/usr/bin/env python3
"""ORM-friendly writes: SQLAlchemy 2 (psycopg 3) with a reflected mapping and
no hand-tuning, acting as the application role with the end user set per
transaction (SET LOCAL ROLE + set_config(..., true) right after BEGIN).

Checks that plain ORM inserts work (server-generated ids come back, a message
without workspace_id gets a complete identity, author_id is filled with the
caller) and that refusals are 42501 errors naming the column or rule.

Runs against the cluster of pg_test/run.sh (CX_PGHOST, CX_PGPORT; user
postgres) in a database of its own. Prints `N passed, M failed`; exits
non-zero on any failure.
"""
import os
import sys
import traceback
import warnings

import psycopg
import sqlalchemy as sa
from sqlalchemy import event, text
from sqlalchemy.ext.automap import automap_base
from sqlalchemy.orm import Session

HOST = os.environ["CX_PGHOST"]
PORT = os.environ["CX_PGPORT"]
DB = "cx_orm_sqlalchemy"
APP_ROLE = "support_app"

WS = "e0000000-0000-4000-8000-000000000001"
AGENT = "e1000000-0000-4000-8000-000000000001"
AGENT2 = "e1000000-0000-4000-8000-000000000002"
BOT = "e2000000-0000-4000-8000-000000000001"


def setup():
    """A fresh database with the extension, a workspace with two agents and a bot."""
    with psycopg.connect(host=HOST, port=PORT, user="postgres", dbname="postgres", autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        c.execute(f"CREATE DATABASE {DB}")
        c.execute(
            f"DO $$ BEGIN CREATE ROLE {APP_ROLE} NOLOGIN; "
            "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        )
    with psycopg.connect(host=HOST, port=PORT, user="postgres", dbname=DB, autocommit=True) as c:
        c.execute("CREATE EXTENSION conversations_ext")
        c.execute(f"SELECT support.grant_usage('{APP_ROLE}')")
        c.execute(
            "INSERT INTO support.users (id, kind, display_name) VALUES "
            "(%s, 'human', 'agent'), (%s, 'human', 'agent 2'), (%s, 'bot', 'bot')",
            (AGENT, AGENT2, BOT),
        )
        c.execute("INSERT INTO support.workspaces (id, name) VALUES (%s, 'orm')", (WS,))
        c.execute(
            "INSERT INTO support.workspace_members (workspace_id, user_id, role) VALUES "
            "(%s, %s, 'agent'), (%s, %s, 'agent'), (%s, %s, 'agent')",
            (WS, AGENT, WS, AGENT2, WS, BOT),
        )


# automap turns every foreign key into a relationship; the composite keys that
# share workspace_id overlap, which SQLAlchemy reports at mapper configuration.
# They are not used here (no hand-tuning of the mapping), so only that warning
# is silenced; any other SAWarning (e.g. a primary key column with no value) shows.
warnings.filterwarnings("ignore", message=r".*conflicts with relationship", category=sa.exc.SAWarning)

setup()
engine = sa.create_engine(
    sa.URL.create(
        "postgresql+psycopg",
        username="postgres",
        database=DB,
        query={"host": HOST, "port": PORT},
    )
)

# The reflected mapping, exactly as automap makes it.
Base = automap_base()
Base.prepare(autoload_with=engine, schema="support")
Conversation = Base.classes.conversations
Message = Base.classes.conversation_messages


@event.listens_for(Session, "after_begin")
def act_as_end_user(session, transaction, connection):
    """Every ORM transaction: the application role and the end user, for this
    transaction only (what a web request does on a pooled connection)."""
    connection.exec_driver_sql(f"SET LOCAL ROLE {APP_ROLE}")
    user = session.info.get("user_id")
    if user is not None:
        connection.execute(text("SELECT set_config('support.user_id', :u, true)"), {"u": user})


def session_as(user):
    s = Session(engine)
    s.info["user_id"] = user
    return s


def new_conversation(s, subject):
    c = Conversation(workspace_id=WS, subject=subject, channel="web")
    s.add(c)
    s.flush()
    return c


def refused(s, obj):
    """Flushes `obj` expecting a refusal; returns (sqlstate, primary message)."""
    s.add(obj)
    try:
        s.flush()
    except sa.exc.DBAPIError as e:
        s.rollback()
        diag = e.orig.diag
        print(f"    refused: {diag.sqlstate} {diag.message_primary}"
              + (f" (hint: {diag.message_hint})" if diag.message_hint else ""))
        return diag.sqlstate, diag.message_primary or ""
    s.rollback()
    raise AssertionError(f"flush of {obj!r} succeeded, expected a refusal")


# ---------------------------------------------------------------- the checks

def test_insert_conversation_returns_id():
    with session_as(AGENT) as s:
        c = Conversation(workspace_id=WS, subject="from the ORM", channel="web")
        s.add(c)
        s.flush()
        assert c.id is not None, "id is populated at flush"
        cid = c.id
        s.commit()
        # After commit every attribute is expired: this is a refresh by
        # primary key under the next transaction's identity.
        assert c.id == cid
        assert c.status == "active", c.status
        assert str(c.workspace_id) == WS
        ident = sa.inspect(c).identity
        assert ident is not None and None not in ident, ident
    print(f"    conversation {cid}, identity {ident}")


def test_insert_message_without_workspace_id():
    with session_as(AGENT) as s:
        c = new_conversation(s, "message target")
        cid = c.id
        s.commit()
        m = Message(conversation_id=cid, role="agent", content="hello from the ORM")
        s.add(m)
        with warnings.catch_warnings():
            warnings.simplefilter("error", sa.exc.SAWarning)
            s.flush()
        ident = sa.inspect(m).identity
        assert ident is not None and None not in ident, f"identity key after flush: {ident}"
        s.commit()
        # Attribute access after commit refreshes by the identity key.
        assert str(m.workspace_id) == WS, m.workspace_id
        assert str(m.author_id) == AGENT, f"author_id {m.author_id} is the caller"
        assert m.conversation_id == cid
        s.refresh(m)
        assert str(m.author_id) == AGENT
    print(f"    message identity {ident}, author_id {m.author_id}")


def test_bot_message_author_is_the_bot():
    with session_as(AGENT) as s:
        cid = new_conversation(s, "bot target").id
        s.commit()
    with session_as(BOT) as s:
        m = Message(conversation_id=cid, role="customer", content="hi, I need help")
        s.add(m)
        s.commit()
        assert str(m.author_id) == BOT, m.author_id
        assert None not in sa.inspect(m).identity


def test_claimed_by_is_refused_naming_the_column():
    with session_as(AGENT) as s:
        code, msg = refused(
            s, Conversation(workspace_id=WS, subject="forged claim", channel="web", claimed_by=AGENT)
        )
    assert code == "42501", code
    assert "claimed_by" in msg, msg


def test_author_of_another_member_is_refused():
    with session_as(AGENT) as s:
        cid = new_conversation(s, "forged author").id
        s.commit()
        code, msg = refused(
            s, Message(conversation_id=cid, role="agent", content="as someone else", author_id=AGENT2)
        )
    assert code == "42501", code
    assert "author_id" in msg, msg


def test_system_message_is_refused():
    with session_as(AGENT) as s:
        cid = new_conversation(s, "system message").id
        s.commit()
        code, msg = refused(s, Message(conversation_id=cid, role="system", content="I am the system"))
    assert code == "42501", code
    assert "system" in msg, msg
    with session_as(BOT) as s:
        code, msg = refused(s, Message(conversation_id=cid, role="system", content="bot as system"))
    assert code == "42501", code
    assert "system" in msg, msg


def test_agent_cannot_write_as_customer():
    with session_as(AGENT) as s:
        cid = new_conversation(s, "agent as customer").id
        s.commit()
        code, _ = refused(s, Message(conversation_id=cid, role="customer", content="pretending"))
    assert code == "42501", code


def test_nobody_reads_nothing():
    with session_as(None) as s:
        assert s.scalars(sa.select(Conversation)).all() == []


TESTS = [f for name, f in list(globals().items()) if name.startswith("test_") and callable(f)]


def main():
    passed = failed = 0
    for t in TESTS:
        try:
            t()
        except Exception:
            failed += 1
            print(f"FAIL {t.__name__}")
            traceback.print_exc(limit=3)
        else:
            passed += 1
            print(f"ok   {t.__name__}")
    print(f"sqlalchemy {sa.__version__}, psycopg {psycopg.__version__}")
    print(f"{passed} passed, {failed} failed")
    engine.dispose()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
