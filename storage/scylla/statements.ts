/**
 * Every CQL statement of the ScyllaDB store, in one place, so a test can check them all
 * against schema.cql: each names its table's whole partition key (tests/contract/
 * scyllaStatements.test.ts). Tables are unqualified: the session's keyspace (USE) applies.
 *
 * Rows written by a commit carry `USING TIMESTAMP` = the batch's write_ts (see ./intent.ts):
 * re-applying a batch after a crash writes the same cells with the same timestamps, and a later
 * batch's cells always carry a larger one.
 */

const messageColumns = "seq, id, sender, body, ts, reply_to, client_msg_id, edited_at, deleted"
const keyColumns = "room_id, key_id, master_key_id, wrapped, created_at"

export const PING = "SELECT release_version FROM system.local WHERE key = 'local'"

// ---- room_head: only ever written through lightweight transactions

export const CREATE_HEAD = `
INSERT INTO room_head (room_id, kind, name, created_at, last_activity_at, last_seq, epoch, version, write_ts)
VALUES (?, ?, ?, ?, ?, 0, 0, 0, ?) IF NOT EXISTS`

export const LOAD_HEAD = `
SELECT kind, name, created_at, last_activity_at, last_seq, epoch, version, write_ts, commit_id, intent
FROM room_head WHERE room_id = ?`

/** The head without the last batch's intent (which may be large): for lists and read positions. */
export const HEAD_SUMMARY = "SELECT kind, name, last_activity_at, last_seq FROM room_head WHERE room_id = ?"

/** Read at LOCAL_SERIAL after a commit's outcome was unknown. */
export const HEAD_COMMIT = "SELECT version, commit_id FROM room_head WHERE room_id = ?"

/**
 * Claims the next seqs (and the epoch) for one batch. `version` changes with every claim, so
 * the condition holds only if nobody claimed since this writer read the head.
 */
export const CLAIM = `
UPDATE room_head SET last_seq = ?, epoch = ?, version = ?, write_ts = ?, commit_id = ?, intent = ?,
  name = ?, last_activity_at = ?
WHERE room_id = ? IF version = ?`

// ---- shard fences (clustered mode)

export const SHARD_FENCE = "SELECT epoch FROM shard_fences WHERE shard = ?"

export const CREATE_SHARD_FENCE = "INSERT INTO shard_fences (shard, epoch) VALUES (?, ?) IF NOT EXISTS"

export const RAISE_SHARD_FENCE = "UPDATE shard_fences SET epoch = ? WHERE shard = ? IF epoch = ?"

// ---- messages, events, reactions (partitions: room and seq bucket)

export const INSERT_MESSAGE = `
INSERT INTO messages_by_room (room_id, bucket, ${messageColumns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
USING TIMESTAMP ?`

export const EDIT_MESSAGE = `
UPDATE messages_by_room USING TIMESTAMP ? SET body = ?, edited_at = ? WHERE room_id = ? AND bucket = ? AND seq = ?`

/** The tombstone: the body is gone from the row, not hidden. */
export const ERASE_MESSAGE = `
UPDATE messages_by_room USING TIMESTAMP ? SET body = null, deleted = true WHERE room_id = ? AND bucket = ? AND seq = ?`

export const MESSAGES_AT = `SELECT ${messageColumns} FROM messages_by_room WHERE room_id = ? AND bucket = ? AND seq IN ?`

/** History and the room list's last message: newest first below a seq. */
export const MESSAGES_BEFORE = `
SELECT ${messageColumns} FROM messages_by_room WHERE room_id = ? AND bucket = ? AND seq < ? LIMIT ?`

/** Unread counts: only the columns the count needs. */
export const MESSAGE_SENDERS = `
SELECT seq, sender, deleted FROM messages_by_room WHERE room_id = ? AND bucket = ? AND seq > ? AND seq <= ?`

export const INSERT_EVENT = `
INSERT INTO events_by_room (room_id, bucket, seq, kind, actor, ts, target_seq, data, commit_id)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?`

export const EVENTS_BETWEEN = `
SELECT seq, kind, actor, ts, target_seq, data FROM events_by_room
WHERE room_id = ? AND bucket = ? AND seq > ? AND seq <= ? LIMIT ?`

export const EVENT_COMMIT = "SELECT commit_id FROM events_by_room WHERE room_id = ? AND bucket = ? AND seq = ?"

export const INSERT_REACTION = `
INSERT INTO reactions_by_message (room_id, bucket, seq, emoji, user_id) VALUES (?, ?, ?, ?, ?) USING TIMESTAMP ?`

export const DELETE_REACTION = `
DELETE FROM reactions_by_message USING TIMESTAMP ? WHERE room_id = ? AND bucket = ? AND seq = ? AND emoji = ? AND user_id = ?`

export const HAS_REACTION = `
SELECT user_id FROM reactions_by_message WHERE room_id = ? AND bucket = ? AND seq = ? AND emoji = ? AND user_id = ?`

export const REACTIONS_BETWEEN = `
SELECT seq, emoji, user_id FROM reactions_by_message WHERE room_id = ? AND bucket = ? AND seq >= ? AND seq <= ?`

export const INSERT_SEND = `
INSERT INTO sends_by_client_msg_id (room_id, sender, client_msg_id, seq, message_id, ts) VALUES (?, ?, ?, ?, ?, ?)
USING TIMESTAMP ?`

export const FIND_SEND = `
SELECT seq, message_id, ts FROM sends_by_client_msg_id WHERE room_id = ? AND sender = ? AND client_msg_id = ?`

// ---- members, rooms of a user, read positions

export const INSERT_MEMBER = `
INSERT INTO members_by_room (room_id, user_id, role, joined_at) VALUES (?, ?, ?, ?) USING TIMESTAMP ?`

export const SET_MEMBER_ROLE = "UPDATE members_by_room USING TIMESTAMP ? SET role = ? WHERE room_id = ? AND user_id = ?"

export const DELETE_MEMBER = "DELETE FROM members_by_room USING TIMESTAMP ? WHERE room_id = ? AND user_id = ?"

export const LOAD_MEMBERS = "SELECT user_id, role, joined_at FROM members_by_room WHERE room_id = ?"

/** A new membership starts unpinned (also when the user was a member before and pinned it then). */
export const INSERT_USER_ROOM = `
INSERT INTO rooms_by_user (user_id, room_id, role, joined_at, pinned) VALUES (?, ?, ?, ?, false) USING TIMESTAMP ?`

export const SET_USER_ROOM_ROLE = "UPDATE rooms_by_user USING TIMESTAMP ? SET role = ? WHERE user_id = ? AND room_id = ?"

export const DELETE_USER_ROOM = "DELETE FROM rooms_by_user USING TIMESTAMP ? WHERE user_id = ? AND room_id = ?"

export const USER_ROOMS = "SELECT room_id, role, pinned FROM rooms_by_user WHERE user_id = ?"

export const MEMBERSHIP = "SELECT role, pinned FROM rooms_by_user WHERE user_id = ? AND room_id = ?"

export const SET_PINNED = "UPDATE rooms_by_user SET pinned = ? WHERE user_id = ? AND room_id = ?"

/** The timestamp is the seq itself: the highest position wins in every replica. */
export const ADVANCE_READ = "UPDATE read_positions USING TIMESTAMP ? SET read_seq = ? WHERE user_id = ? AND room_id = ?"

export const READ_POSITION = "SELECT read_seq FROM read_positions WHERE user_id = ? AND room_id = ?"

export const READ_POSITIONS = "SELECT room_id, read_seq FROM read_positions WHERE user_id = ?"

// ---- direct rooms

export const FIND_DIRECT = "SELECT room_id, created_at, write_ts FROM direct_rooms_by_pair WHERE user_a = ? AND user_b = ?"

export const CLAIM_DIRECT = `
INSERT INTO direct_rooms_by_pair (user_a, user_b, room_id, created_at, write_ts) VALUES (?, ?, ?, ?, ?) IF NOT EXISTS`

// ---- devices (lightweight transactions: created_at survives re-registration)

export const REGISTER_DEVICE = `
INSERT INTO devices_by_user (user_id, device_token, platform, created_at) VALUES (?, ?, ?, ?) IF NOT EXISTS`

export const SET_DEVICE_PLATFORM = "UPDATE devices_by_user SET platform = ? WHERE user_id = ? AND device_token = ? IF EXISTS"

export const UNREGISTER_DEVICE = "DELETE FROM devices_by_user WHERE user_id = ? AND device_token = ? IF EXISTS"

export const LIST_DEVICES = "SELECT user_id, device_token, platform, created_at FROM devices_by_user WHERE user_id = ?"

// ---- room keys

/** With INSERT_ROOM_KEY in one conditional batch: the key is stored only if it is the room's first. */
export const CLAIM_FIRST_KEY = "UPDATE room_keys SET first_key_id = ? WHERE room_id = ? IF first_key_id = null"

export const INSERT_ROOM_KEY = `INSERT INTO room_keys (${keyColumns}) VALUES (?, ?, ?, ?, ?)`

export const ROOM_KEYS = `SELECT ${keyColumns} FROM room_keys WHERE room_id = ?`

export const REWRAP_ROOM_KEY = `
UPDATE room_keys SET master_key_id = ?, wrapped = ? WHERE room_id = ? AND key_id = ? IF EXISTS`

/**
 * The one statement without a partition key: every room key, for master-key rotation (an
 * operator's batch job, src/crypto/rotate.ts). The driver pages through the token ring.
 */
export const ALL_ROOM_KEYS = `SELECT ${keyColumns} FROM room_keys`

export const FULL_SCANS: ReadonlySet<string> = new Set([ALL_ROOM_KEYS])

// ---- push queue (./pushQueue.ts)

export const INSERT_PUSH_INTENT = `
INSERT INTO push_queue (part, room_id, from_seq, to_seq, created_at, attempts) VALUES (?, ?, ?, ?, ?, 0) USING TIMESTAMP ?`

export const PUSH_QUEUE_PART = "SELECT room_id, from_seq, to_seq, created_at, lease_until, attempts FROM push_queue WHERE part = ?"

export const LEASE_PUSH_INTENT = "UPDATE push_queue SET lease_until = ?, attempts = ? WHERE part = ? AND room_id = ? AND from_seq = ?"

export const RETRY_PUSH_INTENT = "UPDATE push_queue SET lease_until = ? WHERE part = ? AND room_id = ? AND from_seq = ?"

export const DELETE_PUSH_INTENT = "DELETE FROM push_queue WHERE part = ? AND room_id = ? AND from_seq = ?"

export const PUSH_SENT_UP_TO = "SELECT recipient, seq FROM push_sent WHERE room_id = ? AND recipient IN ?"

export const MARK_PUSH_SENT = "UPDATE push_sent USING TIMESTAMP ? SET seq = ? WHERE room_id = ? AND recipient = ?"
