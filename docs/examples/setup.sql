-- The data every SQL example in README.md and docs/*.md runs against.
-- pg_test/tests/docs_sources.rs loads this file once into a template database
-- (as the superuser), then runs each ```sql block of the docs in a fresh copy
-- of it named `app`. Two tenants: Acme and Globex.
CREATE EXTENSION conversations_ext;

-- The application role (what PostgREST's `authenticated` would be).
DO $$ BEGIN CREATE ROLE support_app NOLOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$;
SELECT support.grant_usage('support_app');

INSERT INTO support.users (id, kind, display_name) VALUES
  ('11111111-1111-4111-8111-111111111111', 'human', 'alice (Acme agent)'),
  ('22222222-2222-4222-8222-222222222222', 'human', 'bob (Acme agent)'),
  ('33333333-3333-4333-8333-333333333333', 'human', 'carol (Globex agent)'),
  ('44444444-4444-4444-8444-444444444444', 'human', 'dana (Acme owner)'),
  ('55555555-5555-4555-8555-555555555555', 'human', 'erin (Acme viewer)'),
  ('66666666-6666-4666-8666-666666666666', 'human', 'frank (no workspace yet)'),
  ('aaaaaaaa-0000-4000-8000-00000000b0a1', 'bot',   'acme-bot'),
  ('aaaaaaaa-0000-4000-8000-00000000b0a2', 'bot',   'globex-bot');
INSERT INTO support.workspaces (id, name) VALUES
  ('a0000000-0000-4000-8000-00000000acde', 'Acme'),
  ('b0000000-0000-4000-8000-0000000060be', 'Globex');
INSERT INTO support.workspace_members (workspace_id, user_id, role) VALUES
  ('a0000000-0000-4000-8000-00000000acde', '11111111-1111-4111-8111-111111111111', 'agent'),
  ('a0000000-0000-4000-8000-00000000acde', '22222222-2222-4222-8222-222222222222', 'agent'),
  ('a0000000-0000-4000-8000-00000000acde', '44444444-4444-4444-8444-444444444444', 'owner'),
  ('a0000000-0000-4000-8000-00000000acde', '55555555-5555-4555-8555-555555555555', 'viewer'),
  ('a0000000-0000-4000-8000-00000000acde', 'aaaaaaaa-0000-4000-8000-00000000b0a1', 'agent'),
  ('b0000000-0000-4000-8000-0000000060be', '33333333-3333-4333-8333-333333333333', 'agent'),
  ('b0000000-0000-4000-8000-0000000060be', 'aaaaaaaa-0000-4000-8000-00000000b0a2', 'agent');

-- One Acme conversation in each state, and one of Globex.
INSERT INTO support.conversations
       (id, workspace_id, bot_user_id, channel, status, claimed_by, claimed_at, escalated_at, resolved_at, subject)
VALUES ('c0000000-0000-4000-8000-000000000001', 'a0000000-0000-4000-8000-00000000acde',
        'aaaaaaaa-0000-4000-8000-00000000b0a1', 'web', 'active', NULL, NULL, NULL, NULL, 'Where is my order?'),
       ('c0000000-0000-4000-8000-000000000002', 'a0000000-0000-4000-8000-00000000acde',
        'aaaaaaaa-0000-4000-8000-00000000b0a1', 'email', 'escalated', NULL, NULL, now() - interval '10 minutes', NULL,
        'Refund for a broken blender'),
       ('c0000000-0000-4000-8000-000000000004', 'a0000000-0000-4000-8000-00000000acde',
        'aaaaaaaa-0000-4000-8000-00000000b0a1', 'web', 'claimed', '11111111-1111-4111-8111-111111111111',
        now() - interval '5 minutes', now() - interval '20 minutes', NULL, 'Password reset'),
       ('c0000000-0000-4000-8000-000000000005', 'a0000000-0000-4000-8000-00000000acde',
        'aaaaaaaa-0000-4000-8000-00000000b0a1', 'sms', 'resolved', NULL, NULL, now() - interval '2 hours',
        now() - interval '1 hour', 'Change of address'),
       ('c0000000-0000-4000-8000-000000000003', 'b0000000-0000-4000-8000-0000000060be',
        'aaaaaaaa-0000-4000-8000-00000000b0a2', 'sms', 'active', NULL, NULL, NULL, NULL, 'Invoice copy please');
-- Each message names its workspace: optional on one server (it is filled from
-- the conversation), required on Citus (docs/scale-out.md).
INSERT INTO support.conversation_messages (workspace_id, conversation_id, role, author_id, content) VALUES
  ('a0000000-0000-4000-8000-00000000acde', 'c0000000-0000-4000-8000-000000000001', 'customer', 'aaaaaaaa-0000-4000-8000-00000000b0a1', 'Order #1234 has not arrived.'),
  ('a0000000-0000-4000-8000-00000000acde', 'c0000000-0000-4000-8000-000000000001', 'bot', 'aaaaaaaa-0000-4000-8000-00000000b0a1', 'It ships tomorrow.'),
  ('a0000000-0000-4000-8000-00000000acde', 'c0000000-0000-4000-8000-000000000002', 'customer', 'aaaaaaaa-0000-4000-8000-00000000b0a1', 'The blender broke on day one.'),
  ('b0000000-0000-4000-8000-0000000060be', 'c0000000-0000-4000-8000-000000000003', 'customer', 'aaaaaaaa-0000-4000-8000-00000000b0a2', 'Can I get a copy of invoice 77?');

-- A verification key for support.authenticate() (the examples' tokens are
-- signed with it and expire in 2100).
INSERT INTO support.jwt_keys (kid, alg, key) VALUES
  ('docs-1', 'HS256', 'docs-example-secret-of-at-least-32-bytes');
