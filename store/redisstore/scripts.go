package redisstore

import "github.com/redis/go-redis/v9"

// Lua scripts. Each touches only the keys it is given in KEYS, and every
// caller passes keys of one merchant (one hash tag, one cluster slot). The
// queue's "now" is the server's clock (TIME), read inside the scripts: lease
// expiry and every "is it due, is the lease held" comparison are then the
// same for every instance, whatever its own clock says, so an instance
// whose clock runs ahead cannot take a lease early (and run a job twice at
// once), and one behind cannot keep a dead lease. Due times of scheduled
// jobs are the app's (cart reminders, retries) and are stored as given; a
// job due now by its caller's clock is due no later than the server's now.
// Job records are small JSON; the scripts change only the fields attempt,
// lease, last_error and due_at. A job's payload is in its record, base64,
// as the last field: one field of q:jobs per job to write, claim and
// settle, in the layout code before this one reads too (a rolling deploy
// or a rollback runs both on one queue). The scripts split the payload off
// and put it back without decoding it (see jobFunc).

// nowFunc answers the server's time in ms plus offset (ARGV, 0 but in
// tests that move a fake clock). Redis replicates script effects, so TIME
// may come before writes.
const nowFunc = `
local function serverNow(offset)
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(offset)
end
local function ms(n) return string.format('%d', n) end
`

// jobFunc decodes a job's record but for its payload, and encodes it
// back. The payload (base64: no quote, no backslash) is cut off by a plain
// search for its field, which Go writes last; code before this one may
// have re-encoded the record with cjson, moving the field and escaping its
// '/' as '\/', which the cut keeps as is. A record where the search fails
// (the payload first, or none) is decoded whole: correct, only slower.
// splitJob answers the decoded rest and the cut text, nil when none was
// cut; joinJob puts that text back before the closing brace.
const jobFunc = `
local function splitJob(v)
  local i = string.find(v, ',"payload":"', 1, true)
  local j = i and string.find(v, '"', i + 12, true)
  if not j then return cjson.decode(v), nil end
  return cjson.decode(string.sub(v, 1, i - 1) .. string.sub(v, j + 1)), string.sub(v, i, j)
end
local function joinJob(job, payload)
  local v = cjson.encode(job)
  if not payload then return v end
  return string.sub(v, 1, -2) .. payload .. '}'
end
-- A job without a payload in its record may have one apart in q:payload,
-- as code before this one wrote them.
local function payloadApart(job, payload)
  return payload == nil and job.payload == nil
end
`

// dueFunc answers a job's due score: due as given, or, when the caller
// flagged it due now ('1'), no later than the server's now, so an instance
// whose clock runs ahead does not hold back work that is due at once.
// It needs nowFunc.
const dueFunc = `
local function dueScore(due, now, offset)
  due = tonumber(due)
  if now == '1' then due = math.min(due, serverNow(offset)) end
  return due
end
`

// releaseIdem: KEYS idem. A done key stays done.
const releaseIdemLua = `
if redis.call('GET', KEYS[1]) == 'processing' then
  return redis.call('DEL', KEYS[1])
end
return 0
`

// earliest answers, as a string of ms, the earliest of the merchant's first
// due time and first lease expiry, or ” when it has neither.
const earliestFunc = `
local function earliest(due, lease)
  local best
  local d = redis.call('ZRANGE', due, 0, 0, 'WITHSCORES')
  if d[2] then best = tonumber(d[2]) end
  local l = redis.call('ZRANGE', lease, 0, 0, 'WITHSCORES')
  if l[2] and (not best or tonumber(l[2]) < best) then best = tonumber(l[2]) end
  if best then return string.format('%d', best) end
  return ''
end
`

// claimDoneFunc marks the idempotency key done for ttl ms if it is free,
// in one command (SET NX GET), and answers nil then; else the key's state
// as the claim scripts answer it (2 in progress, 3 done), nothing written.
// A script that then finds the job's id or key taken deletes the key again:
// it was free a moment before, in the same script.
const claimDoneFunc = `
local function claimDone(key, ttl)
  local v = redis.call('SET', key, 'done', 'PX', ttl, 'NX', 'GET')
  if v == 'processing' then return 2 end
  if v then return 3 end
  return nil
end
`

// enqueueFunc stores the job due at due (ms, worked out by the caller):
// KEYS jobs, due, keys, lease; ARGV id, record (its payload in it),
// (the caller's due ms), job key. It answers 0 when
// the id or the live key is taken (nothing written), 1 when the job became
// the merchant's earliest due work (its due time is below every other due
// time, or none was due) and the caller must lower the index, 2 when a due
// element at or before its due time was already there, which covers it in
// the index (see lowerIndex).
const enqueueFunc = nowFunc + dueFunc + `
local function enqueue(due)
  if ARGV[4] ~= '' and redis.call('HEXISTS', KEYS[3], ARGV[4]) == 1 then return 0 end
  -- The record is written only if the id is free: one command for the
  -- check and the write.
  if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
  -- Only due times are compared: a lease that ends before a new job is due
  -- is rare (leases end in the future), and missing it only costs a
  -- harmless extra lowering of the index.
  local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  local e = ''
  if first[2] then e = first[2] end
  redis.call('ZADD', KEYS[2], ms(due), ARGV[1])
  if ARGV[4] ~= '' then redis.call('HSET', KEYS[3], ARGV[4], ARGV[1]) end
  if e == '' or due < tonumber(e) then return 1 end
  return 2
end
`

// enqueue: KEYS jobs, due, keys, lease; ARGV id, record, due ms, job key,
// due-now flag, offset ms. Answers {result as enqueueFunc, the due score
// written}.
const enqueueLua = enqueueFunc + `
local due = dueScore(ARGV[3], ARGV[5], ARGV[6])
return {enqueue(due), ms(due)}
`

// claimAndEnqueue: KEYS jobs, due, keys, lease, idem; ARGV id, record,
// due ms, job key, done ttl ms, due-now flag, offset ms.
// Answers {state, due score or empty}: 1 (new, enqueued, lower the
// index), 4 (new, enqueued, index already covers it), 2 (in progress), 3
// (done), or 0 when the job's id or key is taken (nothing written).
const claimAndEnqueueLua = enqueueFunc + claimDoneFunc + `
local v = claimDone(KEYS[5], ARGV[5])
if v then return {v, ''} end
local due = dueScore(ARGV[3], ARGV[6], ARGV[7])
local r = enqueue(due)
if r == 0 then
  redis.call('DEL', KEYS[5])
  return {0, ''}
end
if r == 1 then return {1, ms(due)} end
return {4, ms(due)}
`

// claimAndLease: KEYS jobs, due, keys, lease, idem; ARGV id, record
// (as leased), lease ms, job key, done ttl ms, the server's now ms (as
// serverClock reckons it: no TIME on a webhook's path; a lease of seconds
// does not mind its half a round trip). Claims the key and stores the job
// leased until that now plus lease. Answers {state, lease expiry or empty} as claimAndEnqueue does:
// 1 when the lease is the merchant's earliest time (lower the index to
// it), 4 when an element at or before it covers it.
const claimAndLeaseLua = nowFunc + claimDoneFunc + `
local v = claimDone(KEYS[5], ARGV[5])
if v then return {v, ''} end
if (ARGV[4] ~= '' and redis.call('HEXISTS', KEYS[3], ARGV[4]) == 1) or redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then
  redis.call('DEL', KEYS[5])
  return {0, ''}
end
local expiry = tonumber(ARGV[6]) + tonumber(ARGV[3])
local first = redis.call('ZRANGE', KEYS[4], 0, 0, 'WITHSCORES')
local covered = first[2] and tonumber(first[2]) <= expiry
if not covered then
  first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  covered = first[2] and tonumber(first[2]) <= expiry
end
redis.call('ZADD', KEYS[4], ms(expiry), ARGV[1])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[3], ARGV[4], ARGV[1]) end
if covered then return {4, ''} end
return {1, ms(expiry)}
`

// candidates: KEYS index; ARGV offset ms, count. Answers the server's now
// (ms, offset included) and then up to count merchants whose index score
// is due by it; the round's claim scripts take that now rather than each
// reading TIME.
const candidatesLua = nowFunc + `
local now = ms(serverNow(ARGV[1]))
local out = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
table.insert(out, 1, now)
return out
`

// earliest: KEYS due, lease.
const earliestLua = earliestFunc + `
return earliest(KEYS[1], KEYS[2])
`

// claim: KEYS due, lease, jobs, payload; ARGV offset ms, lease ms, max,
// lease token prefix, and the server's now in ms as the round's candidates
// script read it (” to read it here). Moves expired leases back to due
// (their attempt already counted), then leases up to max due jobs, oldest
// first, until now plus lease. Each step is one command for all its jobs,
// so a claim of many costs about what a claim of one does, and the
// merchant's earliest time after the claim comes from what the steps read
// (the first lease, and the due set's head one past max) unless expired
// leases moved. Answers {earliest, now, record, payload, record,
// payload...} with the records as leased, their payloads in them; a
// payload apart is nil unless code before this one wrote it in q:payload,
// which is read only for jobs without one in their records.
const claimLua = earliestFunc + nowFunc + jobFunc + `
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
  local apart
  local records, leases = {}, {}
  for i, id in ipairs(ids) do
    if raws[i] then
      local job, payload = splitJob(raws[i])
      local other = false
      if payloadApart(job, payload) then
        apart = apart or redis.call('HMGET', KEYS[4], unpack(ids))
        other = apart[i]
      end
      job.attempt = (tonumber(job.attempt) or 0) + 1
      job.lease = ARGV[4] .. '.' .. i
      local raw = joinJob(job, payload)
      records[#records+1] = id
      records[#records+1] = raw
      leases[#leases+1] = expiry
      leases[#leases+1] = id
      out[#out+1] = raw
      out[#out+1] = other
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
`

// heldFunc decodes the job id if it is leased, unexpired by the server's
// clock (now), under token, and answers it with its payload as splitJob
// cut it.
const heldFunc = nowFunc + jobFunc + `
local function held(lease, jobs, id, token, now)
  local exp = redis.call('ZSCORE', lease, id)
  if not exp or tonumber(exp) <= now then return nil end
  local raw = redis.call('HGET', jobs, id)
  if not raw then return nil end
  local job, payload = splitJob(raw)
  if job.lease ~= token then return nil end
  return job, payload
end
` + dropKeyFunc

// dropKeyFunc frees the job's key in the key hash if it still names id.
const dropKeyFunc = `
local function dropKey(keys, job, id)
  if type(job.key) == 'string' and job.key ~= '' and redis.call('HGET', keys, job.key) == id then
    redis.call('HDEL', keys, job.key)
  end
end
`

// The lease-checked scripts (ack, extend, retry, bury) take ARGV id,
// token, offset ms first, and answer {result, due score or empty}: result
// 0 when the lease is lost, else 1 unless told otherwise.

// ack: KEYS lease, jobs, keys, payload; ARGV id, token, offset ms
// (unused). The job is held when its record carries the token and it is
// still in the lease set; no clock is read. A lease that ran out and that
// no claim has moved back to due yet is still the caller's: nobody else can
// hold the job, and settling it spares the run a claim would start. One
// that a claim moved back (its record still names the token) or took
// (another token) is lost.
const ackLua = dropKeyFunc + jobFunc + `
local raw = redis.call('HGET', KEYS[2], ARGV[1])
if not raw then return {0, ''} end
local job, payload = splitJob(raw)
if job.lease ~= ARGV[2] or redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return {0, ''} end
redis.call('HDEL', KEYS[2], ARGV[1])
if payloadApart(job, payload) then redis.call('HDEL', KEYS[4], ARGV[1]) end
dropKey(KEYS[3], job, ARGV[1])
return {1, ''}
`

// extend: KEYS lease, jobs; ARGV id, token, offset ms, lease ms. The lease
// runs to the server's now plus lease.
const extendLua = heldFunc + `
local now = serverNow(ARGV[3])
local job = held(KEYS[1], KEYS[2], ARGV[1], ARGV[2], now)
if not job then return {0, ''} end
redis.call('ZADD', KEYS[1], ms(now + tonumber(ARGV[4])), ARGV[1])
return {1, ''}
`

// retry: KEYS lease, jobs, due; ARGV id, token, offset ms, due ms, due time
// (RFC 3339), reason, due-now flag. Answers {1, due score} when the job
// became the merchant's earliest work (lower the index), 2 when not.
const retryLua = heldFunc + earliestFunc + dueFunc + `
local job, payload = held(KEYS[1], KEYS[2], ARGV[1], ARGV[2], serverNow(ARGV[3]))
if not job then return {0, ''} end
job.lease = ''
job.last_error = ARGV[6]
job.due_at = ARGV[5]
redis.call('HSET', KEYS[2], ARGV[1], joinJob(job, payload))
redis.call('ZREM', KEYS[1], ARGV[1])
local e = earliest(KEYS[3], KEYS[1])
local due = dueScore(ARGV[4], ARGV[7], ARGV[3])
redis.call('ZADD', KEYS[3], ms(due), ARGV[1])
if e == '' or due < tonumber(e) then return {1, ms(due)} end
return {2, ''}
`

// bury: KEYS lease, jobs, dead, keys; ARGV id, token, offset ms, reason.
// Dead jobs are ordered by the server's time of burial.
const buryLua = heldFunc + `
local now = serverNow(ARGV[3])
local job, payload = held(KEYS[1], KEYS[2], ARGV[1], ARGV[2], now)
if not job then return {0, ''} end
job.lease = ''
job.last_error = ARGV[4]
redis.call('HSET', KEYS[2], ARGV[1], joinJob(job, payload))
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[3], ms(now), ARGV[1])
dropKey(KEYS[4], job, ARGV[1])
return {1, ''}
`

// forgetLedger: KEYS as postLedgerLua (src, due, sum, log, lots, open,
// pend); ARGV customer. Deletes the customer's ledger and the sources and
// due lots that are theirs; answers how many entries went.
const forgetLedgerLua = `
local entries = redis.call('LRANGE', KEYS[4], 0, -1)
for _, raw in ipairs(entries) do
  local src = cjson.decode(raw).s
  local owner = redis.call('HGET', KEYS[1], src)
  if owner and string.sub(owner, string.find(owner, '|', 1, true) + 1) == ARGV[1] then
    redis.call('HDEL', KEYS[1], src)
  end
end
for _, lot in ipairs(redis.call('HKEYS', KEYS[5])) do
  redis.call('ZREM', KEYS[2], lot .. '|' .. ARGV[1])
end
redis.call('DEL', KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7])
return #entries
`

// purgeDead: KEYS dead, jobs, payload; ARGV before (ms, as burial scores
// are), limit. Deletes the oldest dead jobs buried before, answers how many.
const purgeDeadLua = `
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
  redis.call('HDEL', KEYS[3], id)
end
return #ids
`

// requeueDead: KEYS dead, jobs, due, keys; ARGV id, offset ms, now (RFC
// 3339, for the record). Makes the job due at the server's now. Answers
// {1, due score}; -1 when the job is not dead, 0 when a live job holds its
// key.
const requeueDeadLua = nowFunc + jobFunc + `
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return {-1, ''} end
local raw = redis.call('HGET', KEYS[2], ARGV[1])
if not raw then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return {-1, ''}
end
local job, payload = splitJob(raw)
local key = ''
if type(job.key) == 'string' then key = job.key end
if key ~= '' and redis.call('HEXISTS', KEYS[4], key) == 1 then return {0, ''} end
job.attempt = 0
job.lease = ''
job.due_at = ARGV[3]
local due = ms(serverNow(ARGV[2]))
redis.call('HSET', KEYS[2], ARGV[1], joinJob(job, payload))
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[3], due, ARGV[1])
if key ~= '' then redis.call('HSET', KEYS[4], key, ARGV[1]) end
return {1, due}
`

// cancel: KEYS keys, due, jobs, payload; ARGV job key. Removes the job only
// if it is waiting, not leased.
const cancelLua = `
local id = redis.call('HGET', KEYS[1], ARGV[1])
if not id then return 0 end
if not redis.call('ZSCORE', KEYS[2], id) then return 0 end
redis.call('ZREM', KEYS[2], id)
redis.call('HDEL', KEYS[3], id)
redis.call('HDEL', KEYS[4], id)
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
`

// dropJobs: KEYS due, jobs, keys, payload; ARGV max. Removes up to max waiting jobs
// (due or scheduled; leased and dead ones are in other sets) with their
// records and keys. Answers how many it removed.
const dropJobsLua = dropKeyFunc + jobFunc + `
local ids = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
for _, id in ipairs(ids) do
  local raw = redis.call('HGET', KEYS[2], id)
  if raw then
    dropKey(KEYS[3], (splitJob(raw)), id)
    redis.call('HDEL', KEYS[2], id)
  end
  redis.call('HDEL', KEYS[4], id)
  redis.call('ZREM', KEYS[1], id)
end
return #ids
`

// purgeJobs: KEYS due, lease, jobs, payload, dead, keys; ARGV now ms, max.
// Removes up to max waiting jobs, up to max dead ones and up to max whose
// lease ran out by now, with their records, payloads and keys; jobs under
// a live lease stay. Answers how many it removed.
const purgeJobsLua = dropKeyFunc + jobFunc + `
local max = tonumber(ARGV[2])
local n = 0
local function purge(set, ids)
  for _, id in ipairs(ids) do
    local raw = redis.call('HGET', KEYS[3], id)
    if raw then dropKey(KEYS[6], (splitJob(raw)), id) end
    redis.call('HDEL', KEYS[3], id)
    redis.call('HDEL', KEYS[4], id)
    redis.call('ZREM', set, id)
    n = n + 1
  end
end
purge(KEYS[1], redis.call('ZRANGE', KEYS[1], 0, max - 1))
purge(KEYS[5], redis.call('ZRANGE', KEYS[5], 0, max - 1))
purge(KEYS[2], redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, max))
return n
`

// createDelivery: KEYS record, status set, event set, message ids, phone
// set, customer set, subject set; ARGV record, created ms, id, provider
// message id, phone, customer id, subject. The last three SETs are written
// only when their value is not empty. The status sets together index every
// delivery by creation time: no index of all is written.
const createDeliveryLua = `
if not redis.call('SET', KEYS[1], ARGV[1], 'NX') then return 0 end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[3])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[4], ARGV[4], ARGV[3]) end
for i = 5, 7 do
  if ARGV[i] ~= '' then redis.call('SADD', KEYS[i], ARGV[3]) end
end
return 1
`

// deleteDeliveries: KEYS index (of deliveries created before the status
// sets became the index), message ids, then per delivery its record,
// status set, event set, phone set, customer set, subject set (6 keys);
// ARGV per delivery its id, its record as read, its provider message id
// (3 values). Deletes each delivery whose record is still the one read, with
// its index entries; a record changed meanwhile is left for the caller to
// read again. Answers how many it deleted.
const deleteDeliveriesLua = `
local n = 0
for i = 0, (#KEYS - 2) / 6 - 1 do
  local k, a = 2 + i * 6, i * 3
  local id, mid = ARGV[a+1], ARGV[a+3]
  if redis.call('GET', KEYS[k+1]) == ARGV[a+2] then
    redis.call('DEL', KEYS[k+1])
    redis.call('ZREM', KEYS[1], id)
    redis.call('ZREM', KEYS[k+2], id)
    redis.call('ZREM', KEYS[k+3], id)
    for j = k + 4, k + 6 do redis.call('SREM', KEYS[j], id) end
    if mid ~= '' and redis.call('HGET', KEYS[2], mid) == id then
      redis.call('HDEL', KEYS[2], mid)
    end
    n = n + 1
  end
end
return n
`

// advanceState: KEYS state, and with effects jobs, due, keys; ARGV
// version, value, ttl ms, server clock offset ms, then five per effect: id,
// record, due ms, job key, due-now flag (as enqueue takes them). Versions are decimal int64 strings, compared exactly (Lua
// numbers are doubles and would round nanosecond times). When the record
// advances to another value, each effect whose id and key are free is
// enqueued as enqueueFunc does (a taken one was queued before). Answers
// {advanced 0/1, previous value, the earliest due score among the effects
// that became the merchant's earliest work, or ”}.
const advanceStateLua = nowFunc + dueFunc + `
local function newer(a, b)
  local an, bn = a:sub(1, 1) == '-', b:sub(1, 1) == '-'
  if an ~= bn then return bn end
  if an then a, b = b:sub(2), a:sub(2) end
  if #a ~= #b then return #a > #b end
  return a > b
end
local cur = redis.call('HMGET', KEYS[1], 'v', 'value')
local prev = cur[2] or ''
if cur[1] and not newer(ARGV[1], cur[1]) then return {0, prev, ''} end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'value', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
local lower
if cur[1] and prev == ARGV[2] then return {1, prev, ''} end
for i = 5, #ARGV, 5 do
  local id, raw, key = ARGV[i], ARGV[i+1], ARGV[i+3]
  if redis.call('HEXISTS', KEYS[2], id) == 0 and (key == '' or redis.call('HEXISTS', KEYS[4], key) == 0) then
    local due = dueScore(ARGV[i+2], ARGV[i+4], ARGV[4])
    local first = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
    redis.call('HSET', KEYS[2], id, raw)
    redis.call('ZADD', KEYS[3], ms(due), id)
    if key ~= '' then redis.call('HSET', KEYS[4], key, id) end
    if not first[2] or due < tonumber(first[2]) then
      if not lower or due < lower then lower = due end
    end
  end
end
if lower then return {1, prev, ms(lower)} end
return {1, prev, ''}
`

// throttle: KEYS slots; ARGV the server's now µs (as serverClock reckons
// it, which saves a TIME per call), window µs, limit, max wait µs,
// spacing µs. An exact sliding window: the key holds the last turn
// given to a refused caller, then the times of the latest slots (at most
// limit, oldest first), each 16 decimal digits of µs on the server's
// clock. A slot is free now while fewer than limit were taken in the last
// window; otherwise the next is a window after the limit-th latest, and
// spacing after the latest, so waiters are spread out. Answers the wait in
// µs: to the slot taken when it is at most max wait away, else to the
// caller's turn (nothing taken): when a slot frees, and at least spacing
// after the turn given before.
const throttleLua = `
local now = tonumber(ARGV[1])
local window, limit, spacing = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[5])
local v = redis.call('GET', KEYS[1]) or ''
if #v == 0 or #v % 16 ~= 0 then v = string.rep('0', 16) end
local turn, ring = tonumber(string.sub(v, 1, 16)), string.sub(v, 17)
local n = #ring / 16
local at, last = now, now
if n > 0 then
  last = tonumber(string.sub(ring, -16))
  if n >= limit then
    local kth = tonumber(string.sub(ring, (n - limit) * 16 + 1, (n - limit + 1) * 16))
    if kth + window > now then at = math.max(kth + window, last + spacing) end
    ring = string.sub(ring, (n - limit + 1) * 16 + 1)
  end
  at = math.max(at, last)
end
if at - now > tonumber(ARGV[4]) then
  turn = math.max(turn + spacing, at)
  redis.call('SET', KEYS[1], string.format('%016d', turn) .. string.sub(v, 17), 'PX', math.ceil((math.max(turn, last + window) - now) / 1000))
  return turn - now
end
redis.call('SET', KEYS[1], string.format('%016d', turn) .. ring .. string.format('%016d', at), 'PX', math.ceil((math.max(turn, at + window) - now) / 1000))
return at - now
`

// swap: KEYS record; ARGV old value, new value. Compare and set.
const swapLua = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1
`

// takeIndex: KEYS index; ARGV owner. Sets the index if free and answers ”,
// else answers its owner.
const takeIndexLua = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then return '' end
return redis.call('GET', KEYS[1])
`

// dropIfOwner: KEYS index; ARGV owner. Compare and delete.
const dropIfOwnerLua = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`

// scripts holds the loaded scripts; Run uses EVALSHA and falls back to EVAL.
type scripts struct {
	releaseIdem                               *redis.Script
	enqueue, claimAndEnqueue, earliest, claim *redis.Script
	claimAndLease                             *redis.Script
	candidates                                *redis.Script
	ack, extend, retry, bury, requeueDead     *redis.Script
	purgeDead                                 *redis.Script
	cancel, createDelivery                    *redis.Script
	swap, takeIndex, dropIfOwner              *redis.Script
	dropJobs, deleteDeliveries, purgeJobs     *redis.Script
	advanceState, throttle                    *redis.Script
	postLedger, ledgerLots, forgetLedger      *redis.Script
}

func newScripts() scripts {
	return scripts{
		releaseIdem:      redis.NewScript(releaseIdemLua),
		enqueue:          redis.NewScript(enqueueLua),
		claimAndEnqueue:  redis.NewScript(claimAndEnqueueLua),
		claimAndLease:    redis.NewScript(claimAndLeaseLua),
		earliest:         redis.NewScript(earliestLua),
		claim:            redis.NewScript(claimLua),
		candidates:       redis.NewScript(candidatesLua),
		ack:              redis.NewScript(ackLua),
		extend:           redis.NewScript(extendLua),
		retry:            redis.NewScript(retryLua),
		bury:             redis.NewScript(buryLua),
		purgeDead:        redis.NewScript(purgeDeadLua),
		requeueDead:      redis.NewScript(requeueDeadLua),
		cancel:           redis.NewScript(cancelLua),
		createDelivery:   redis.NewScript(createDeliveryLua),
		swap:             redis.NewScript(swapLua),
		takeIndex:        redis.NewScript(takeIndexLua),
		dropIfOwner:      redis.NewScript(dropIfOwnerLua),
		dropJobs:         redis.NewScript(dropJobsLua),
		purgeJobs:        redis.NewScript(purgeJobsLua),
		deleteDeliveries: redis.NewScript(deleteDeliveriesLua),
		advanceState:     redis.NewScript(advanceStateLua),
		throttle:         redis.NewScript(throttleLua),
		postLedger:       redis.NewScript(postLedgerLua),
		ledgerLots:       redis.NewScript(ledgerLotsLua),
		forgetLedger:     redis.NewScript(forgetLedgerLua),
	}
}
