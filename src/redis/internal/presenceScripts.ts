/**
 * The Lua scripts behind RedisPresence. Each is atomic, so two nodes deciding "first
 * join" or "last leave" for the same user at once cannot both be right or both be wrong.
 *
 * Data (see RedisPresence.ts for the key names):
 * - entry hash, one per (room, user): field = node id, value = expiry (ms, Redis clock);
 * - members set, one per room: the users that may have an entry (pruned on read);
 * - user hash, one per user: field = node id, value = "<sockets>:<expiry>".
 * Every script reads the time from Redis, prunes the expired fields it meets (a crashed
 * node stops refreshing its fields), and keeps each key alive at least a TTL, so the keys
 * of a node that is gone expire on their own.
 *
 * The batch scripts take entries in parallel: KEYS in pairs or singly, ARGV after the
 * fixed arguments one per entry; they answer one flag (1/0) per entry.
 */
import { defineScript } from "../RedisClient.ts"

const prelude = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- A value ends with its expiry: "<expiry>" or "<count>:<expiry>".
local function expiry(value)
  return tonumber(string.match(value, '(%d+)$')) or 0
end
-- Deletes the expired fields of hash 'key'; answers how many live fields other than 'self' remain.
local function prune(key, self, now)
  local fields = redis.call('HGETALL', key)
  local others = 0
  for i = 1, #fields, 2 do
    if expiry(fields[i + 1]) <= now then
      redis.call('HDEL', key, fields[i])
    elseif fields[i] ~= self then
      others = others + 1
    end
  end
  return others
end
-- Keeps 'key' alive at least 'ttl' ms without shortening what another node asked for.
local function keep(key, ttl)
  if redis.call('PTTL', key) < ttl then
    redis.call('PEXPIRE', key, ttl)
  end
end
`

/** KEYS: (entry, members) pairs. ARGV: node, ttl, user per pair. Flag: no other node had the user there (first join). */
export const putRoomEntries = defineScript(
  "presence-put-rooms",
  `${prelude}
local node, ttl = ARGV[1], tonumber(ARGV[2])
local now = now_ms()
local value = string.format('%d', now + ttl)
local first = {}
for i = 1, #ARGV - 2 do
  local entry, members = KEYS[2 * i - 1], KEYS[2 * i]
  first[i] = prune(entry, node, now) == 0 and 1 or 0
  redis.call('HSET', entry, node, value)
  keep(entry, ttl)
  redis.call('SADD', members, ARGV[i + 2])
  keep(members, ttl)
end
return first
`
)

/** KEYS: (entry, members) pairs. ARGV: node, user per pair. Flag: no node has the user there any more (last leave). */
export const removeRoomEntries = defineScript(
  "presence-remove-rooms",
  `${prelude}
local node = ARGV[1]
local now = now_ms()
local last = {}
for i = 1, #ARGV - 1 do
  local entry, members = KEYS[2 * i - 1], KEYS[2 * i]
  redis.call('HDEL', entry, node)
  if prune(entry, node, now) == 0 then
    redis.call('SREM', members, ARGV[i + 1])
    last[i] = 1
  else
    last[i] = 0
  end
end
return last
`
)

/** KEYS: members, then one entry per user. ARGV: the users. Answers the users with a live entry. */
export const liveRoomMembers = defineScript(
  "presence-online",
  `${prelude}
local now = now_ms()
local live = {}
for i = 1, #ARGV do
  if prune(KEYS[i + 1], '', now) > 0 then
    live[#live + 1] = ARGV[i]
  else
    redis.call('SREM', KEYS[1], ARGV[i])
  end
end
return live
`
)

/** KEYS: user hashes. ARGV: node, ttl, socket count per user. Flag: no other node had a socket of the user (first connect). */
export const putUserEntries = defineScript(
  "presence-put-users",
  `${prelude}
local node, ttl = ARGV[1], tonumber(ARGV[2])
local now = now_ms()
local until_ms = string.format('%d', now + ttl)
local first = {}
for i = 1, #KEYS do
  first[i] = prune(KEYS[i], node, now) == 0 and 1 or 0
  redis.call('HSET', KEYS[i], node, ARGV[i + 2] .. ':' .. until_ms)
  keep(KEYS[i], ttl)
end
return first
`
)

/** KEYS: user hashes. ARGV: node. Flag: no node has a socket of the user any more (last disconnect). */
export const removeUserEntries = defineScript(
  "presence-remove-users",
  `${prelude}
local node = ARGV[1]
local now = now_ms()
local last = {}
for i = 1, #KEYS do
  redis.call('HDEL', KEYS[i], node)
  last[i] = prune(KEYS[i], node, now) == 0 and 1 or 0
end
return last
`
)

/** KEYS: user hashes. Flag: some node has a live socket of the user. */
export const liveUsers = defineScript(
  "presence-online-users",
  `${prelude}
local now = now_ms()
local live = {}
for i = 1, #KEYS do
  live[i] = prune(KEYS[i], '', now) > 0 and 1 or 0
end
return live
`
)

/** KEYS: one user hash. Answers the user's open sockets summed over the live nodes' fields. */
export const userSockets = defineScript(
  "presence-user-sockets",
  `${prelude}
local now = now_ms()
local fields = redis.call('HGETALL', KEYS[1])
local total = 0
for i = 1, #fields, 2 do
  if expiry(fields[i + 1]) > now then
    total = total + (tonumber(string.match(fields[i + 1], '^(%d+):')) or 0)
  end
end
return total
`
)
