-- Push notifications (docs/push.md). Both tables are written only when messages are sent.

-- The durable push queue: one row per committed batch that created messages in a room,
-- inserted by the same transaction as the messages (storage/sql/commit.ts), so an acked
-- message always has its intent. The row names the room and the seq range, never a body or a
-- recipient: the push worker decides who to notify when it delivers. `lease_until` is when a
-- claim by a worker runs out (a worker that dies leaves its rows to be claimed again).
CREATE TABLE IF NOT EXISTS push_intents (
  room_id     uuid NOT NULL,
  from_seq    bigint NOT NULL,
  to_seq      bigint NOT NULL,
  created_at  timestamptz NOT NULL,
  lease_until timestamptz NOT NULL DEFAULT 'epoch',
  attempts    integer NOT NULL DEFAULT 0,
  PRIMARY KEY (room_id, from_seq)
);
CREATE INDEX IF NOT EXISTS push_intents_ready ON push_intents (lease_until, created_at);

-- Per recipient (a device: a hash of its token, never the token) and room, the last seq
-- notified: a redelivered intent does not notify the same device twice.
CREATE TABLE IF NOT EXISTS push_sent (
  room_id   uuid NOT NULL,
  recipient text NOT NULL,
  seq       bigint NOT NULL,
  PRIMARY KEY (room_id, recipient)
);
