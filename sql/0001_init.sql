-- The chat schema, version 1. Forward-only and idempotent: the runner (storage/sql/migrate.ts)
-- applies each file once, but running it twice by hand must also be harmless.
--
-- User ids, emoji and tokens use COLLATE "C": byte order, the same order the in-memory
-- store and every runtime compute, so sorting never depends on the server's locale.
-- Timestamps are written by the application (one `now` per batch, millisecond precision).

CREATE TABLE IF NOT EXISTS rooms (
  id               uuid PRIMARY KEY,
  kind             text NOT NULL CHECK (kind IN ('direct', 'group')),
  name             text,
  created_at       timestamptz NOT NULL,
  -- The room's head: the last seq handed out (0: nothing yet) and the fencing epoch of
  -- the newest writer. Commits lock this row FOR UPDATE, which serialises writers.
  last_seq         bigint NOT NULL DEFAULT 0,
  epoch            bigint NOT NULL DEFAULT 0,
  -- Time of the last event; created_at until the first one. Sorts the room list.
  last_activity_at timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS members (
  room_id   uuid NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
  user_id   text COLLATE "C" NOT NULL,
  role      text NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
  read_seq  bigint NOT NULL DEFAULT 0,
  pinned    boolean NOT NULL DEFAULT false,
  joined_at timestamptz NOT NULL,
  PRIMARY KEY (room_id, user_id)
);
-- The room list: a user's memberships, pinned first. read_seq rides along for the unread count.
CREATE INDEX IF NOT EXISTS members_by_user ON members (user_id, pinned DESC) INCLUDE (read_seq);

-- The one direct room of a pair, the pair in byte order so (a, b) and (b, a) collide.
CREATE TABLE IF NOT EXISTS direct_rooms (
  user_a  text COLLATE "C" NOT NULL,
  user_b  text COLLATE "C" NOT NULL,
  room_id uuid NOT NULL UNIQUE REFERENCES rooms (id) ON DELETE CASCADE,
  PRIMARY KEY (user_a, user_b),
  CHECK (user_a <= user_b)
);

CREATE TABLE IF NOT EXISTS messages (
  room_id       uuid NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
  seq           bigint NOT NULL,
  id            uuid NOT NULL,
  sender        text COLLATE "C" NOT NULL,
  -- Ciphertext from the encryption layer; NULL once the message is deleted (a tombstone
  -- keeps its seq, never its body).
  body          text,
  ts            timestamptz NOT NULL,
  reply_to      bigint,
  client_msg_id text,
  edited_at     timestamptz,
  deleted       boolean NOT NULL DEFAULT false,
  PRIMARY KEY (room_id, seq),
  -- Idempotent send: a second (room, sender, clientMsgId) can never become a second row.
  UNIQUE (room_id, sender, client_msg_id),
  CHECK (deleted = (body IS NULL))
);
-- Unread counts and each room's last message skip tombstones; sender is included so the
-- unread count ("not sent by the reader") is an index-only range scan.
CREATE INDEX IF NOT EXISTS messages_live ON messages (room_id, seq) INCLUDE (sender) WHERE NOT deleted;

-- Every seq of a room is one event. Message events point at their message (target_seq) and
-- are read joined with it, so a replay shows the message as it is now; others carry data.
CREATE TABLE IF NOT EXISTS events (
  room_id    uuid NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
  seq        bigint NOT NULL,
  kind       text NOT NULL,
  actor      text COLLATE "C" NOT NULL,
  ts         timestamptz NOT NULL,
  target_seq bigint,
  data       jsonb,
  PRIMARY KEY (room_id, seq)
);

CREATE TABLE IF NOT EXISTS reactions (
  room_id uuid NOT NULL,
  seq     bigint NOT NULL,
  emoji   text COLLATE "C" NOT NULL,
  user_id text COLLATE "C" NOT NULL,
  PRIMARY KEY (room_id, seq, emoji, user_id),
  FOREIGN KEY (room_id, seq) REFERENCES messages (room_id, seq) ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS devices (
  user_id    text COLLATE "C" NOT NULL,
  token      text COLLATE "C" NOT NULL,
  platform   text NOT NULL CHECK (platform IN ('fcm', 'apns', 'webpush')),
  created_at timestamptz NOT NULL,
  PRIMARY KEY (user_id, token)
);

-- A room's data keys, each wrapped by a master key. No foreign key to rooms: the
-- encryption layer may create a room's key before the room's first write.
CREATE TABLE IF NOT EXISTS room_keys (
  room_id       uuid NOT NULL,
  key_id        text COLLATE "C" NOT NULL,
  master_key_id text NOT NULL,
  wrapped       text NOT NULL,
  created_at    timestamptz NOT NULL,
  PRIMARY KEY (room_id, key_id)
);
