//! The Lua scripts that keep a fleet's leases. Each runs atomically on the
//! server, reads the time with `TIME` (never the client's clock), and touches
//! only the group's keys, which share one hash tag so a script never crosses
//! cluster slots. Sent with `EVALSHA` by redis-rs' `Script`, which loads a
//! script again when the server answers `NOSCRIPT` (after a restart or a
//! failover emptied its script cache).
//!
//! Keys (`KEYS[1..7]`), for a group named `NAME`:
//!
//! | key | type | holds |
//! |---|---|---|
//! | `{pooled:NAME}:holders` | sorted set | a member per lease (its fencing token), scored by its expiry in server milliseconds |
//! | `{pooled:NAME}:queue` | sorted set | a member per waiting call, scored by its arrival ticket |
//! | `{pooled:NAME}:alive` | sorted set | the same waiting calls, scored by when they are presumed gone unless they ask again |
//! | `{pooled:NAME}:limit` | string | the fleet limit every process must agree on |
//! | `{pooled:NAME}:fence` | string | the last fencing token handed out |
//! | `{pooled:NAME}:ticket` | string | the last arrival ticket handed out |
//! | `{pooled:NAME}:granted` | sorted set | a member per lease (its waiter's id), scored by its fencing token |
//!
//! `granted` makes an acquire idempotent per waiter: a grant whose answer
//! the client never got (Redis stalled past the client's patience, the
//! connection cut after the script ran) is handed to the same waiter when it
//! asks again (its expiry renewed), and released when it gives up
//! (`CANCEL`), instead of holding a slot nobody has until it expires.
//!
//! Every script that writes keeps every key alive for at least `ARGV` idle
//! (its client's three leases) from now, so a fleet whose processes all
//! vanished leaves nothing behind; it extends an expiry, never shortens it:
//! a client with a shorter lease cannot expire the keys under another's
//! longer lease. A release or a cancel that leaves no holder and no waiter
//! deletes the keys at once.
//!
//! Fencing tokens come from `INCR` on `fence`, raised to the server's time
//! in microseconds whenever it is below it: so tokens keep increasing across
//! the deletion of the keys and across a restart of a Redis that lost them,
//! as long as the server's clock does not go back and fewer than a million
//! leases a second are handed out on average.

/// Shared prologue: the server's time in milliseconds and microseconds, and
/// a function to keep the keys alive for at least `idle` ms.
const PROLOGUE: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local function touch(idle)
  idle = tonumber(idle)
  for i = 1, #KEYS do
    local ttl = redis.call('PTTL', KEYS[i])
    if ttl == -1 or (ttl >= 0 and ttl < idle) then redis.call('PEXPIRE', KEYS[i], idle) end
  end
end
local function cleanup()
  if redis.call('ZCARD', KEYS[1]) == 0 and redis.call('ZCARD', KEYS[2]) == 0 then
    redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7])
    return true
  end
  return false
end
local function forget(token)
  redis.call('ZREMRANGEBYSCORE', KEYS[7], token, token)
end
-- The lease granted to waiter `id` and still recorded for it, as the member
-- of `holders` it would be (or nil).
local function granted_to(id)
  local token = redis.call('ZSCORE', KEYS[7], id)
  return token and string.format('%.0f', tonumber(token))
end
"#;

/// Acquire, or queue and report how long to wait at most.
///
/// `ARGV`: limit, lease ms, waiter id, waiter ms (how long a waiter stays
/// queued without asking again), idle ms, channel, `1` for a single attempt
/// that never queues (a `try_acquire`: granted only if a lease is free and
/// nobody waits for one, so it never jumps the queue) or `0`.
///
/// A waiter that was granted a lease still held (its answer was lost: see
/// the keys above) gets that lease again, renewed.
///
/// Returns `{1, token, limit in force, reclaimed}` when granted, or
/// `{0, ms until the nearest lease expiry, limit in force, reclaimed}`
/// (for a single attempt: `{0, 0, limit in force, reclaimed}`).
const ACQUIRE: &str = r#"
local limit = tonumber(ARGV[1])
local lease = tonumber(ARGV[2])
local id = ARGV[3]
local stored = tonumber(redis.call('GET', KEYS[4]))
-- A stored limit no process could have set (another client wrote it: not a
-- whole number from 1 to the most slots a pool has) is replaced, as a
-- missing one is: 0 would make every call wait for good, a huge one lift
-- the limit.
if stored == nil or stored < 1 or stored > {max_slots} or stored ~= math.floor(stored) then
  redis.call('SET', KEYS[4], limit)
  stored = limit
end
for _, expired in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)) do
  forget(expired)
end
local reclaimed = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local stale = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 1000)
if #stale > 0 then
  redis.call('ZREM', KEYS[3], unpack(stale))
  redis.call('ZREM', KEYS[2], unpack(stale))
end
if reclaimed > 0 or #stale > 0 then
  redis.call('PUBLISH', ARGV[6], 'reclaimed')
end
local held = granted_to(id)
if held then
  -- Still held (expired ones were reclaimed above): its again, renewed.
  if redis.call('ZSCORE', KEYS[1], held) then
    redis.call('ZADD', KEYS[1], 'XX', now + lease, held)
    touch(ARGV[5])
    return {1, tonumber(held), stored, reclaimed}
  end
  redis.call('ZREM', KEYS[7], id)
end
local free = stored - redis.call('ZCARD', KEYS[1])
local rank = redis.call('ZRANK', KEYS[2], id)
if not rank then
  if free > 0 and redis.call('ZCARD', KEYS[2]) == 0 then
    rank = 0
  elseif ARGV[7] == '1' then
    if not cleanup() then touch(ARGV[5]) end
    return {0, 0, stored, reclaimed}
  else
    local ticket = redis.call('INCR', KEYS[6])
    redis.call('ZADD', KEYS[2], ticket, id)
    rank = redis.call('ZRANK', KEYS[2], id)
  end
end
if rank < free then
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZREM', KEYS[3], id)
  local token = redis.call('INCR', KEYS[5])
  if token < now_us then
    token = now_us
    redis.call('SET', KEYS[5], string.format('%.0f', token))
  end
  redis.call('ZADD', KEYS[1], now + lease, string.format('%.0f', token))
  redis.call('ZADD', KEYS[7], token, id)
  touch(ARGV[5])
  return {1, token, stored, reclaimed}
end
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[4]), id)
local retry = lease
local nearest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if nearest[2] then
  retry = math.max(0, tonumber(nearest[2]) - now)
end
touch(ARGV[5])
return {0, retry, stored, reclaimed}
"#;

/// Renew a lease, never re-create it.
///
/// `ARGV`: token, lease ms, idle ms, channel. Returns 1 if renewed, 0 if the
/// lease is gone (reclaimed by another process after it expired, or lost
/// with Redis' data), -1 if it had expired and nobody had reclaimed it yet
/// (it is removed now). 0 and -1 both mean: lost.
const RENEW: &str = r#"
local token = ARGV[1]
local score = redis.call('ZSCORE', KEYS[1], token)
if not score then
  forget(token)
  return 0
end
if tonumber(score) <= now then
  redis.call('ZREM', KEYS[1], token)
  forget(token)
  redis.call('PUBLISH', ARGV[4], token)
  return -1
end
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), token)
touch(ARGV[3])
return 1
"#;

/// Release a lease (or do nothing if it is gone), wake the fleet's waiters,
/// and delete the keys if nothing is held or waiting.
///
/// `ARGV`: token, channel. Returns 1 if the lease was held, 0 if it was gone.
const RELEASE: &str = r#"
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
forget(ARGV[1])
if removed == 1 then
  redis.call('PUBLISH', ARGV[2], ARGV[1])
end
cleanup()
return removed
"#;

/// A waiting call gives up: leave the queue, release a lease it was granted
/// without hearing of it (see the keys above), wake the others (those
/// behind may now be within the free slots), delete the keys if nothing is
/// left.
///
/// `ARGV`: waiter id, channel.
const CANCEL: &str = r#"
local removed = redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
local held = granted_to(ARGV[1])
if held then
  redis.call('ZREM', KEYS[7], ARGV[1])
  if redis.call('ZREM', KEYS[1], held) == 1 then
    removed = 1
  end
end
if removed == 1 then
  redis.call('PUBLISH', ARGV[2], 'cancelled')
end
cleanup()
return removed
"#;

/// The scripts, each with the prologue, hashed once.
pub(crate) struct Scripts {
    pub(crate) acquire: redis::Script,
    pub(crate) renew: redis::Script,
    pub(crate) release: redis::Script,
    pub(crate) cancel: redis::Script,
}

impl Scripts {
    pub(crate) fn new() -> Scripts {
        let script = |body: &str| redis::Script::new(&format!("{PROLOGUE}{body}"));
        Scripts {
            // The one bound on a limit (`MAX_SLOTS`), not a copy of it.
            acquire: script(&ACQUIRE.replace("{max_slots}", &crate::MAX_SLOTS.to_string())),
            renew: script(RENEW),
            release: script(RELEASE),
            cancel: script(CANCEL),
        }
    }
}
