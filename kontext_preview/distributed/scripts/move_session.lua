-- Move a dead node's session to a live node, if it is still the dead node's (two live
-- nodes looking at once move it once): its record says `status` with `reason`, no dev
-- server and the new node; it leaves the dead node's set for the new one's; its stream
-- gets the event. Returns 1 if moved, 0 if not (then it leaves the dead node's set).
--
-- KEYS: session (record hash), from_sessions (set), to_sessions (set), events (stream)
-- ARGV: from_node, to_node, session_id, status, reason, event_type, event_data (JSON),
--       events_kept (the stream's approximate length)
if redis.call('HGET', KEYS[1], 'node') ~= ARGV[1] then
  redis.call('SREM', KEYS[2], ARGV[3])
  return 0
end
redis.call('HSET', KEYS[1], 'node', ARGV[2], 'status', ARGV[4], 'host', '', 'port', '',
           'error', ARGV[5])
redis.call('SMOVE', KEYS[2], KEYS[3], ARGV[3])
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[8], '*', 'type', ARGV[6], 'data', ARGV[7])
return 1
