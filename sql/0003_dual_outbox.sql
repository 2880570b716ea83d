-- PostgreSQL to ScyllaDB migration (docs/scylla.md, README "Migrating from PostgreSQL to
-- ScyllaDB"). Both tables stay empty unless CHAT_STORE=dual or `chat migrate` is used.

-- Dual-write: a change committed here whose copy to ScyllaDB failed. Each row names what to
-- copy again (`op`: which room, seq range, user or key; never a message body), and the copy
-- reads the current rows from here when it runs, so replaying an entry late, or twice, is
-- harmless. Entries of one `stream` (a room, a user's devices, ...) are replayed in id order;
-- while a stream has entries, new changes of that stream queue behind them.
CREATE TABLE IF NOT EXISTS dual_outbox (
  id         bigserial PRIMARY KEY,
  stream     text NOT NULL,
  op         jsonb NOT NULL,
  attempts   integer NOT NULL DEFAULT 0,
  -- The last failure's error tag and operation (no values), for operators.
  last_error text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS dual_outbox_stream ON dual_outbox (stream, id);

-- Backfill: how far each room has been copied (its events up to synced_seq), so an
-- interrupted `chat migrate` resumes where it stopped instead of starting over.
CREATE TABLE IF NOT EXISTS migration_checkpoints (
  room_id    uuid PRIMARY KEY,
  synced_seq bigint NOT NULL,
  done       boolean NOT NULL DEFAULT false,
  updated_at timestamptz NOT NULL DEFAULT now()
);
