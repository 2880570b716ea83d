/**
 * Every SQL statement of the SQL stores, in one place, so PostgreSQL and PGlite run the same
 * text and tests can EXPLAIN the real queries. Parameters are cast explicitly: neither driver
 * is told parameter types, and an untyped parameter in a SELECT list would resolve to text.
 * Batch writes go through unnest() of parallel arrays: one statement per kind of row, never
 * one per row, so a commit costs a constant number of round trips.
 */

const messageColumns = "m.seq, m.id, m.sender, m.body, m.ts, m.reply_to, m.client_msg_id, m.edited_at, m.deleted"

export const PING = "SELECT 1 AS ok"

// ---- rooms and members

export const INSERT_GROUP_ROOM = `
INSERT INTO rooms (id, kind, name, created_at, last_activity_at)
VALUES ($1::uuid, 'group', $2::text, $3::timestamptz, $3::timestamptz)`

/** New members start caught up: read_seq is the room's seq when they joined. */
export const INSERT_MEMBERS = `
INSERT INTO members (room_id, user_id, role, read_seq, joined_at)
SELECT $1::uuid, u.user_id, u.role, $2::bigint, $3::timestamptz
FROM unnest($4::text[], $5::text[]) AS u(user_id, role)
ON CONFLICT (room_id, user_id) DO UPDATE SET role = EXCLUDED.role`

export const FIND_DIRECT_ROOM = "SELECT room_id FROM direct_rooms WHERE user_a = $1::text AND user_b = $2::text"

/**
 * Creates the pair's room unless another transaction did: ON CONFLICT waits for a concurrent
 * insert of the same pair to commit, then does nothing, and the caller re-reads. Foreign keys
 * are checked at the end of the statement, when all three inserts are done.
 */
export const CREATE_DIRECT_ROOM = `
WITH pair AS (
  INSERT INTO direct_rooms (user_a, user_b, room_id) VALUES ($1::text, $2::text, $3::uuid)
  ON CONFLICT (user_a, user_b) DO NOTHING
  RETURNING room_id
), room AS (
  INSERT INTO rooms (id, kind, created_at, last_activity_at)
  SELECT room_id, 'direct', $4::timestamptz, $4::timestamptz FROM pair
), joined AS (
  INSERT INTO members (room_id, user_id, role, joined_at)
  SELECT DISTINCT pair.room_id, u.user_id, 'member', $4::timestamptz
  FROM pair, unnest(ARRAY[$1::text, $2::text]) AS u(user_id)
)
SELECT room_id FROM pair`

export const LOAD_ROOM = "SELECT id, kind, name, created_at, last_seq, epoch FROM rooms WHERE id = $1::uuid"

export const LOAD_MEMBERS = "SELECT user_id, role FROM members WHERE room_id = $1::uuid ORDER BY joined_at, user_id"

export const LOAD_MEMBERSHIP =
  "SELECT role, read_seq, pinned FROM members WHERE room_id = $1::uuid AND user_id = $2::text"

/** Moves forward only, and never past the room's last seq. */
// The member's row is locked first, so a concurrent mark waits and then sees this one's
// position: the messages between the old and the new position are counted by one call only.
export const MARK_READ = `
WITH before AS (
  SELECT m.read_seq AS previous, GREATEST(m.read_seq, LEAST($3::bigint, r.last_seq)) AS target
  FROM members m JOIN rooms r ON r.id = m.room_id
  WHERE m.room_id = $1::uuid AND m.user_id = $2::text
  FOR UPDATE OF m
), moved AS (
  UPDATE members m SET read_seq = b.target
  FROM before b
  WHERE m.room_id = $1::uuid AND m.user_id = $2::text AND b.target > b.previous
  RETURNING m.read_seq
)
SELECT b.target AS read_seq,
  (SELECT count(*) FROM messages x
   WHERE x.room_id = $1::uuid AND x.seq > b.previous AND x.seq <= b.target
     AND x.sender <> $2::text AND NOT x.deleted) AS marked
FROM before b`

export const SET_PINNED = "UPDATE members SET pinned = $3::boolean WHERE room_id = $1::uuid AND user_id = $2::text"

// ---- commit: lock the heads, load what the batches refer to, persist the plans
//
// A commit covers a group of rooms (./groupCommit.ts): every statement takes parallel
// arrays with a room per row, so a group of any size costs the same few round trips.

/** Shared locks, in shard order: commits of one shard run concurrently, a fence raise waits for them. */
export const LOCK_SHARD_FENCES = `
SELECT shard, epoch FROM shard_fences WHERE shard = ANY($1::int[]) ORDER BY shard FOR SHARE`

export const RAISE_SHARD_FENCE = `
INSERT INTO shard_fences (shard, epoch) VALUES ($1::int, $2::bigint)
ON CONFLICT (shard) DO UPDATE SET epoch = GREATEST(shard_fences.epoch, EXCLUDED.epoch)
RETURNING epoch`

/**
 * The row locks serialise every writer of a room until its transaction ends. Taken in id
 * order (the sort runs below the lock), so two groups never wait on each other in a cycle.
 */
export const LOCK_ROOMS = `
SELECT id, kind, last_seq, epoch FROM rooms WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`

export const LOAD_TARGETS = `
SELECT m.room_id, ${messageColumns}
FROM unnest($1::uuid[], $2::bigint[]) AS k(room_id, seq)
JOIN messages m ON m.room_id = k.room_id AND m.seq = k.seq`

/** Earlier sends of the batches' (room, sender, clientMsgId) keys, through the idempotency index. */
export const LOAD_SENT = `
SELECT m.room_id, ${messageColumns}
FROM unnest($1::uuid[], $2::text[], $3::text[]) AS k(room_id, sender, client_msg_id)
JOIN messages m ON m.room_id = k.room_id AND m.sender = k.sender AND m.client_msg_id = k.client_msg_id`

/** Which of the batches' (room, seq, emoji, user) reactions already exist. */
export const LOAD_REACTIONS = `
SELECT r.room_id, r.seq, r.emoji, r.user_id
FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::text[]) AS k(room_id, seq, emoji, user_id)
JOIN reactions r ON r.room_id = k.room_id AND r.seq = k.seq AND r.emoji = k.emoji AND r.user_id = k.user_id`

/**
 * A message sent and deleted in the same batch arrives as a tombstone: NULL body, and
 * `deleted` follows from it (the table's CHECK ties the two). No boolean[] parameter:
 * postgres.js would declare an array of booleans as a plain boolean.
 */
export const INSERT_MESSAGES = `
INSERT INTO messages (room_id, seq, id, sender, body, ts, reply_to, client_msg_id, edited_at, deleted)
SELECT u.room_id, u.seq, u.id, u.sender, u.body, u.ts, u.reply_to, u.client_msg_id, u.edited_at, u.body IS NULL
FROM unnest($1::uuid[], $2::bigint[], $3::uuid[], $4::text[], $5::text[], $6::timestamptz[], $7::bigint[], $8::text[], $9::timestamptz[])
  AS u(room_id, seq, id, sender, body, ts, reply_to, client_msg_id, edited_at)`

export const INSERT_EVENTS = `
INSERT INTO events (room_id, seq, kind, actor, ts, target_seq, data)
SELECT u.room_id, u.seq, u.kind, u.actor, u.ts, u.target_seq, u.data::jsonb
FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::text[], $5::timestamptz[], $6::bigint[], $7::text[])
  AS u(room_id, seq, kind, actor, ts, target_seq, data)`

export const UPDATE_EDITS = `
UPDATE messages m SET body = u.body, edited_at = u.edited_at
FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::timestamptz[]) AS u(room_id, seq, body, edited_at)
WHERE m.room_id = u.room_id AND m.seq = u.seq`

/** The tombstone: the body is gone from the row, not hidden. */
export const ERASE_MESSAGES = `
UPDATE messages m SET body = NULL, deleted = true
FROM unnest($1::uuid[], $2::bigint[]) AS u(room_id, seq)
WHERE m.room_id = u.room_id AND m.seq = u.seq`

export const INSERT_REACTIONS = `
INSERT INTO reactions (room_id, seq, emoji, user_id)
SELECT u.room_id, u.seq, u.emoji, u.user_id
FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::text[]) AS u(room_id, seq, emoji, user_id)
ON CONFLICT DO NOTHING`

export const DELETE_REACTIONS = `
DELETE FROM reactions r
USING unnest($1::uuid[], $2::bigint[], $3::text[], $4::text[]) AS u(room_id, seq, emoji, user_id)
WHERE r.room_id = u.room_id AND r.seq = u.seq AND r.emoji = u.emoji AND r.user_id = u.user_id`

/** Members added or whose role changed; new members start caught up at their room's seq. */
export const UPSERT_MEMBERS = `
INSERT INTO members (room_id, user_id, role, read_seq, joined_at)
SELECT u.room_id, u.user_id, u.role, u.read_seq, u.joined_at
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bigint[], $5::timestamptz[]) AS u(room_id, user_id, role, read_seq, joined_at)
ON CONFLICT (room_id, user_id) DO UPDATE SET role = EXCLUDED.role`

export const DELETE_MEMBERS = `
DELETE FROM members m USING unnest($1::uuid[], $2::text[]) AS u(room_id, user_id)
WHERE m.room_id = u.room_id AND m.user_id = u.user_id`

/** `activity` is the batch's time when it produced events, else NULL (activity unchanged). */
export const UPDATE_HEADS = `
UPDATE rooms r SET last_seq = u.last_seq, epoch = u.epoch, name = COALESCE(u.name, r.name),
  last_activity_at = COALESCE(u.activity, r.last_activity_at)
FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::text[], $5::timestamptz[]) AS u(id, last_seq, epoch, name, activity)
WHERE r.id = u.id`

/**
 * True when a member of the room has a registered device: a push intent is written only
 * then. A room where nobody has a device gets no notification anyway, and its intent cost
 * the database an insert, a claim and a delete for the push worker to find that out (three
 * interleaved runs each here, rooms of 2 at 2,000 msg/s: PostgreSQL used 30.7-36.7 % of a
 * core with those intents, 24.6-27.1 % without). The probe reads members by the room's key
 * and devices by each member's, and stops at the first device: at most what the worker's
 * audience lookup (every member's devices) would have read for the intent.
 */
const ANY_MEMBER_DEVICE = (room: string) =>
  `EXISTS (SELECT 1 FROM members m JOIN devices d ON d.user_id = m.user_id WHERE m.room_id = ${room})`

/**
 * A group of send-only batches in one statement (./fastCommit.ts): each room's head moves
 * from the last seq the actor's store knows, under the same epoch and shard-fence checks as
 * the full path; messages and the push intent (where a member has a device) are written
 * only for rooms whose head moved. A message is its own `message.created` event: no events
 * row is written for it (see REPLAY). A message whose key is taken fails the statement with
 * a unique violation (a plain INSERT: ON CONFLICT DO NOTHING would pre-check both unique
 * indexes and log a second WAL record per row, to learn the same thing), so it writes
 * nothing and the group takes the full path. Answers the rooms that committed.
 * $1 the group's shards; per room $2 id, $3 expected last seq, $4 new last seq, $5 epoch,
 * $6 shard, $7 time (also every message's), $14 first new seq; per message $8..$13.
 */
export const COMMIT_SENDS = `
WITH fence AS (
  SELECT shard, epoch FROM shard_fences WHERE shard = ANY($1::int[]) ORDER BY shard FOR SHARE
), head AS (
  UPDATE rooms r SET last_seq = h.last_seq, epoch = h.epoch, last_activity_at = h.ts
  FROM unnest($2::uuid[], $3::bigint[], $4::bigint[], $5::bigint[], $6::int[], $7::timestamptz[], $14::bigint[])
    AS h(id, expected, last_seq, epoch, shard, ts, from_seq)
  WHERE r.id = h.id AND r.last_seq = h.expected AND r.epoch <= h.epoch
    AND NOT EXISTS (SELECT 1 FROM fence f WHERE f.shard = h.shard AND f.epoch > h.epoch)
  RETURNING r.id, h.from_seq, h.last_seq, h.ts
), msg AS (
  INSERT INTO messages (room_id, seq, id, sender, body, ts, client_msg_id, deleted)
  SELECT u.room_id, u.seq, u.id, u.sender, u.body, head.ts, u.client_msg_id, false
  FROM unnest($8::uuid[], $9::bigint[], $10::uuid[], $11::text[], $12::text[], $13::text[])
    AS u(room_id, seq, id, sender, body, client_msg_id)
  JOIN head ON head.id = u.room_id
), intent AS (
  INSERT INTO push_intents (room_id, from_seq, to_seq, created_at)
  SELECT head.id, head.from_seq, head.last_seq, head.ts FROM head
  WHERE ${ANY_MEMBER_DEVICE("head.id")}
  ON CONFLICT (room_id, from_seq) DO NOTHING
)
SELECT head.id FROM head`

// ---- reads

/**
 * Replay: the room's seqs in (after, upTo], from two primary-key ranges merged in seq order.
 * A message is its own `message.created` event (its seq, its sender as actor, its time), so
 * the send path writes one row per message, not two; every other event is an events row,
 * and message events (edited, deleted) are joined with their message's current row. Each
 * seq is in exactly one of the two tables, except `message.created` rows that earlier
 * versions wrote to events too: they are skipped here, the message row stands for them.
 */
export const REPLAY = `
(SELECT e.seq, e.kind, e.actor, e.ts, e.target_seq, e.data,
  m.id, m.sender, m.body, m.ts AS message_ts, m.reply_to, m.client_msg_id, m.edited_at, m.deleted
 FROM events e
 LEFT JOIN messages m ON m.room_id = e.room_id AND m.seq = e.target_seq
 WHERE e.room_id = $1::uuid AND e.seq > $2::bigint AND e.seq <= $3::bigint AND e.kind <> 'message.created'
 ORDER BY e.seq
 LIMIT $4::bigint)
UNION ALL
(SELECT m.seq, 'message.created', m.sender, m.ts, m.seq, NULL::jsonb,
  m.id, m.sender, m.body, m.ts, m.reply_to, m.client_msg_id, m.edited_at, m.deleted
 FROM messages m
 WHERE m.room_id = $1::uuid AND m.seq > $2::bigint AND m.seq <= $3::bigint
 ORDER BY m.seq
 LIMIT $4::bigint)
ORDER BY seq
LIMIT $4::bigint`

/**
 * History: a backward range of the messages primary key. Reactions come along as
 * `{ emoji: [users] }` (users in byte order); a tombstone shows none. Most messages have no
 * reactions: one probe of reactions_pkey answers those, and only messages that have some
 * pay for the grouping (7-10% of this query's time, for a page of 50 without any). The
 * probe is a scalar subquery, not EXISTS, which the planner may turn into a hashed subplan
 * that reads the whole reactions table, every room's.
 */
export const HISTORY = `
SELECT ${messageColumns},
  CASE WHEN NOT m.deleted AND (SELECT true FROM reactions r WHERE r.room_id = m.room_id AND r.seq = m.seq LIMIT 1) THEN
    (SELECT jsonb_object_agg(g.emoji, g.users)
     FROM (SELECT r.emoji, jsonb_agg(r.user_id ORDER BY r.user_id) AS users
           FROM reactions r
           WHERE r.room_id = m.room_id AND r.seq = m.seq
           GROUP BY r.emoji) g)
  END AS reactions
FROM messages m
WHERE m.room_id = $1::uuid AND m.seq < $2::bigint
ORDER BY m.seq DESC
LIMIT $3::bigint`

/**
 * The room list: the user's memberships (members_by_user), pinned first, then last activity,
 * then id; keyset after the cursor ($2..$4, all NULL for the first page). Unread and the last
 * message are computed for the page's rooms only, each a range of messages_live.
 */
export const ROOM_LIST = `
WITH page AS (
  SELECT r.id, r.kind, r.name, r.last_activity_at, m.pinned, m.read_seq
  FROM members m
  JOIN rooms r ON r.id = m.room_id
  WHERE m.user_id = $1::text
    AND ($2::boolean IS NULL
      OR m.pinned < $2::boolean
      OR (m.pinned = $2::boolean
        AND (r.last_activity_at < $3::timestamptz
          OR (r.last_activity_at = $3::timestamptz AND r.id > $4::uuid))))
  ORDER BY m.pinned DESC, r.last_activity_at DESC, r.id
  LIMIT $5::bigint
)
SELECT p.id, p.kind, p.name, p.last_activity_at, p.pinned,
  (SELECT count(*) FROM messages x
   WHERE x.room_id = p.id AND x.seq > p.read_seq AND x.sender <> $1::text AND NOT x.deleted) AS unread,
  l.seq AS last_seq, l.id AS last_id, l.sender AS last_sender, l.body AS last_body, l.ts AS last_ts
FROM page p
LEFT JOIN LATERAL (
  SELECT x.seq, x.id, x.sender, x.body, x.ts FROM messages x
  WHERE x.room_id = p.id AND NOT x.deleted
  ORDER BY x.seq DESC
  LIMIT 1
) l ON true
ORDER BY p.pinned DESC, p.last_activity_at DESC, p.id`

// ---- devices

/** Registering a known token again only updates its platform. */
export const REGISTER_DEVICE = `
INSERT INTO devices (user_id, token, platform, created_at) VALUES ($1::text, $2::text, $3::text, $4::timestamptz)
ON CONFLICT (user_id, token) DO UPDATE SET platform = EXCLUDED.platform`

export const UNREGISTER_DEVICE = "DELETE FROM devices WHERE user_id = $1::text AND token = $2::text RETURNING token"

export const LIST_DEVICES =
  "SELECT user_id, token, platform, created_at FROM devices WHERE user_id = $1::text ORDER BY created_at, token"

/**
 * A push claim's rooms, their members and the members' devices, in one statement
 * (ChatStore.pushAudience): a row per device, a member without devices once with NULL
 * device columns, a room without members once with NULL member columns, and no row for a
 * room that does not exist. Rooms through rooms_pkey, members through their primary key
 * (room_id first), devices through theirs (user_id first). Members in LOAD_MEMBERS order,
 * each member's devices in LIST_DEVICES order.
 */
export const PUSH_AUDIENCE = `
SELECT r.id AS room_id, m.user_id, d.token, d.platform, d.created_at
FROM rooms r
LEFT JOIN members m ON m.room_id = r.id
LEFT JOIN devices d ON d.user_id = m.user_id
WHERE r.id = ANY($1::uuid[])
ORDER BY r.id, m.joined_at, m.user_id, d.created_at, d.token`

// ---- room keys

const keyColumns = "room_id, key_id, master_key_id, wrapped, created_at"

export const ROOM_KEYS = `SELECT ${keyColumns} FROM room_keys WHERE room_id = $1::uuid ORDER BY created_at, key_id`

export const ALL_ROOM_KEYS = `SELECT ${keyColumns} FROM room_keys ORDER BY room_id, created_at, key_id`

/**
 * "Only if the room has no key yet" is a read-then-write: a per-room advisory lock (class
 * 7301, apart from the migration lock) makes two first writers take turns.
 */
export const LOCK_ROOM_KEYS = "SELECT pg_advisory_xact_lock(7301, hashtext($1::text))"

export const ADD_ROOM_KEY = `
INSERT INTO room_keys (${keyColumns})
SELECT $1::uuid, $2::text, $3::text, $4::text, $5::timestamptz
WHERE NOT EXISTS (SELECT 1 FROM room_keys WHERE room_id = $1::uuid)`

export const REWRAP_ROOM_KEY = `
UPDATE room_keys SET master_key_id = $3::text, wrapped = $4::text WHERE room_id = $1::uuid AND key_id = $2::text`

// ---- push queue (storage/PushQueue.ts; sql/0004_push_queue.sql)

/**
 * Written with the batch's other rows: one row per room of the group that created messages
 * and has a member with a device (COMMIT_SENDS rules the same; ../PushQueue.ts says why).
 */
export const INSERT_PUSH_INTENTS = `
INSERT INTO push_intents (room_id, from_seq, to_seq, created_at)
SELECT u.room_id, u.from_seq, u.to_seq, u.created_at
FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::timestamptz[]) AS u(room_id, from_seq, to_seq, created_at)
WHERE ${ANY_MEMBER_DEVICE("u.room_id")}
ON CONFLICT (room_id, from_seq) DO NOTHING`

/**
 * Rooms whose oldest unleased intent has settled, oldest first, and all their unleased
 * intents. Two workers claiming at once: the UPDATE re-checks lease_until on each row it
 * locks, so a row leased by the other in the meantime is skipped, never claimed twice.
 * $1 now, $2 settled-before, $3 rooms, $4 lease until.
 */
export const CLAIM_PUSH_INTENTS = `
WITH ready AS (
  SELECT room_id FROM push_intents
  WHERE lease_until <= $1::timestamptz
  GROUP BY room_id
  HAVING min(created_at) <= $2::timestamptz
  ORDER BY min(created_at)
  LIMIT $3::int
)
UPDATE push_intents p SET lease_until = $4::timestamptz, attempts = p.attempts + 1
FROM ready
WHERE p.room_id = ready.room_id AND p.lease_until <= $1::timestamptz
RETURNING p.room_id, p.from_seq, p.to_seq, p.created_at, p.attempts`

export const ACK_PUSH_INTENTS = `
DELETE FROM push_intents p USING unnest($1::uuid[], $2::bigint[]) AS u(room_id, from_seq)
WHERE p.room_id = u.room_id AND p.from_seq = u.from_seq`

export const RETRY_PUSH_INTENTS = `
UPDATE push_intents p SET lease_until = $3::timestamptz
FROM unnest($1::uuid[], $2::bigint[]) AS u(room_id, from_seq)
WHERE p.room_id = u.room_id AND p.from_seq = u.from_seq`

export const PUSH_QUEUE_STATS = "SELECT count(*) AS depth, min(created_at) AS oldest FROM push_intents"

export const PUSH_SENT_UP_TO = "SELECT recipient, seq FROM push_sent WHERE room_id = $1::uuid AND recipient = ANY($2::text[])"

export const MARK_PUSH_SENT = `
INSERT INTO push_sent (room_id, recipient, seq) VALUES ($1::uuid, $2::text, $3::bigint)
ON CONFLICT (room_id, recipient) DO UPDATE SET seq = EXCLUDED.seq WHERE push_sent.seq < EXCLUDED.seq`
