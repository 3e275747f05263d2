-- Give up waiting for a request's reply: the reply if it came meanwhile, else the request
-- is marked abandoned (a worker that took it undoes its work: it WATCHes the mark in its
-- commit) and its payload removed (a worker that has not taken it never will).
--
-- KEYS: reply (list), abandoned (string), payload (hash)
-- ARGV: ttl_seconds (of the mark)
local reply = redis.call('LPOP', KEYS[1])
if reply then return reply end
redis.call('SET', KEYS[2], '1', 'EX', ARGV[1])
redis.call('DEL', KEYS[3])
return false
