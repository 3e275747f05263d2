-- Queue an update of an existing session, atomically: numbered (the session's next `seq`,
-- also kept in the payload), into its inbox, its `update.received` event into its stream,
-- its expiry moved, its node nudged. Nothing (and no payload) if the session is gone.
-- Returns {node, how many runtimes heard the nudge}, or false.
--
-- KEYS: session (record hash), inbox (list), events (stream), sessions (expiry zset),
--       payload (the request's hash)
-- ARGV: request_id, session_id, expires_at (unix s), event_type, event_data (JSON, its
--       `seq` set here), events_kept (the stream's approximate length), wake_prefix (the
--       pub/sub channel's, the node's name appended), seq_field (the payload's field)
local node = redis.call('HGET', KEYS[1], 'node')
if not node then
  redis.call('DEL', KEYS[5])
  return false
end
local seq = redis.call('HINCRBY', KEYS[1], 'updateSeq', 1)
redis.call('HSET', KEYS[5], ARGV[8], seq)
local received = cjson.decode(ARGV[5])
received['seq'] = seq
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call(
  'XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], '*', 'type', ARGV[4], 'data', cjson.encode(received)
)
redis.call('ZADD', KEYS[4], 'XX', ARGV[3], ARGV[2])
return {node, redis.call('PUBLISH', ARGV[7] .. node, ARGV[2])}
