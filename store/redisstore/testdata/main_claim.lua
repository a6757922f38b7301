-- Copied verbatim from storebridge commit 6ea8ae9, store/redisstore/scripts.go:
-- claimLua (earliestFunc + nowFunc + its body), as main's code runs it (see compat_test.go).

local function earliest(due, lease)
  local best
  local d = redis.call('ZRANGE', due, 0, 0, 'WITHSCORES')
  if d[2] then best = tonumber(d[2]) end
  local l = redis.call('ZRANGE', lease, 0, 0, 'WITHSCORES')
  if l[2] and (not best or tonumber(l[2]) < best) then best = tonumber(l[2]) end
  if best then return string.format('%d', best) end
  return ''
end

local function serverNow(offset)
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(offset)
end
local function ms(n) return string.format('%d', n) end

local now = tonumber(ARGV[5])
if not now then now = serverNow(ARGV[1]) end
local expiry = ms(now + tonumber(ARGV[2]))
local max = tonumber(ARGV[3])
-- The earliest lease tells whether any ran out; while none has, it is
-- also the earliest after this claim but for the leases taken here.
local firstLease = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
local leaseMin
local moved = false
if firstLease[2] and tonumber(firstLease[2]) <= now then
  moved = true
  local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ms(now), 'WITHSCORES', 'LIMIT', 0, 1000)
  local gone, back = {}, {}
  for i = 1, #expired, 2 do
    gone[#gone+1] = expired[i]
    back[#back+1] = expired[i+1]
    back[#back+1] = expired[i]
  end
  redis.call('ZREM', KEYS[2], unpack(gone))
  redis.call('ZADD', KEYS[1], unpack(back))
elseif firstLease[2] then
  leaseMin = tonumber(firstLease[2])
end
local out = {'', ms(now)}
-- One past max: the first element not taken is the earliest due after.
local head = redis.call('ZRANGE', KEYS[1], 0, max, 'WITHSCORES')
local ids = {}
local nextDue
for i = 1, #head, 2 do
  local score = tonumber(head[i+1])
  if #ids < max and score <= now then
    ids[#ids+1] = head[i]
  else
    nextDue = score
    break
  end
end
local leased = false
if #ids > 0 then
  redis.call('ZREM', KEYS[1], unpack(ids))
  local raws = redis.call('HMGET', KEYS[3], unpack(ids))
  local payloads = redis.call('HMGET', KEYS[4], unpack(ids))
  local records, leases = {}, {}
  for i, id in ipairs(ids) do
    local raw = raws[i]
    if raw then
      local job = cjson.decode(raw)
      job.attempt = (tonumber(job.attempt) or 0) + 1
      job.lease = ARGV[4] .. '.' .. i
      raw = cjson.encode(job)
      records[#records+1] = id
      records[#records+1] = raw
      leases[#leases+1] = expiry
      leases[#leases+1] = id
      out[#out+1] = raw
      out[#out+1] = payloads[i]
    end
  end
  if #records > 0 then
    redis.call('HSET', KEYS[3], unpack(records))
    redis.call('ZADD', KEYS[2], unpack(leases))
    leased = true
  end
end
if moved then
  out[1] = earliest(KEYS[1], KEYS[2])
  return out
end
local best = nextDue
if leaseMin and (not best or leaseMin < best) then best = leaseMin end
if leased and (not best or tonumber(expiry) < best) then best = tonumber(expiry) end
if best then out[1] = ms(best) end
return out
