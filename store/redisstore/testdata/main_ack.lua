-- Copied verbatim from storebridge commit 6ea8ae9, store/redisstore/scripts.go:
-- ackLua (heldFunc + its body), as main's code runs it (see compat_test.go).

local function serverNow(offset)
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(offset)
end
local function ms(n) return string.format('%d', n) end

local function held(lease, jobs, id, token, now)
  local exp = redis.call('ZSCORE', lease, id)
  if not exp or tonumber(exp) <= now then return nil end
  local raw = redis.call('HGET', jobs, id)
  if not raw then return nil end
  local job = cjson.decode(raw)
  if job.lease ~= token then return nil end
  return job
end

local function dropKey(keys, job, id)
  if type(job.key) == 'string' and job.key ~= '' and redis.call('HGET', keys, job.key) == id then
    redis.call('HDEL', keys, job.key)
  end
end

local job = held(KEYS[1], KEYS[2], ARGV[1], ARGV[2], serverNow(ARGV[3]))
if not job then return {0, ''} end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
dropKey(KEYS[3], job, ARGV[1])
return {1, ''}
