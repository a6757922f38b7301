package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/storebridge/storebridge/app/loyalty"
)

// Ledger is loyalty.Ledger on Redis: one script per post, over keys of one
// merchant (keys.go, loy:*).
type Ledger struct{ s *Store }

var _ loyalty.Ledger = (*Ledger)(nil)

// Ledger returns the points ledger on the store's server.
func (s *Store) Ledger() *Ledger { return &Ledger{s: s} }

// postLedgerLua applies a post: KEYS src, due, sum, log, lots, open, pend
// (keys.loyalty); ARGV customer, now ms, n, loyalty.MaxBalance, then per
// entry kind, source, ref, points, expires ms (0: never), reason.
//
// It reads what it needs, applies every entry to copies in Lua tables and
// writes only at the end, so a refused entry (answered as {'refused',
// reason, source, balance}) leaves nothing written. Otherwise it answers
// {'ok', balance, pending, seq, tag1, payload1, ...}: 'n' and the new
// entry, 'd' and the earlier entry of a source already posted for this
// customer, 'o' and "seq|customer" of one posted for another customer
// (whose entries this script may not name).
//
// Lots are keyed by their entry's seq zero-padded to 12 digits, so the
// open ZSET (score: expiry ms, +inf for never) orders equal expiries
// oldest first, as spending takes them. A spend reads the ids of all the
// customer's spendable lots (tens, for a real customer) and the records of
// only those it takes from. Every number in a stored JSON is a string:
// cjson would print large ones in exponent form.
const postLedgerLua = `
local srcK, dueK, sumK, logK, lotsK, openK, pendK = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local customer, now, n, maxBalance = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local function ms(x) return string.format('%d', x) end
local function pad(q) return string.format('%012d', q) end
local s = redis.call('HMGET', sumK, 'b', 'p', 'q')
local bal, pend, seq = tonumber(s[1] or '0'), tonumber(s[2] or '0'), tonumber(s[3] or '0')

local lots, dirty, dirtyList = {}, {}, {}
local function getLot(id)
  local l = lots[id]
  if l == nil then
    local raw = redis.call('HGET', lotsK, id)
    if not raw then return nil end
    local d = cjson.decode(raw)
    l = {s = d.s, n = tonumber(d.n), r = tonumber(d.r), v = tonumber(d.v or '0'), e = tonumber(d.e or '0'), x = tonumber(d.x), p = d.p == '1'}
    lots[id] = l
  end
  return l
end
local function markDirty(id)
  if not dirty[id] then dirty[id] = true; dirtyList[#dirtyList + 1] = id end
end

-- fifo: spendable lots in spending order, loaded when first needed.
local fifo, score, added = nil, {}, {}
local function lotScore(l) if l.x == 0 then return math.huge end return l.x end
local function before(a, b)
  if score[a] ~= score[b] then return score[a] < score[b] end
  return a < b
end
local function becameSpendable(id)
  score[id] = lotScore(lots[id])
  if fifo then fifo[#fifo + 1] = id; table.sort(fifo, before) else added[#added + 1] = id end
end
local function consume(amount)
  if amount <= 0 then return 0 end
  if not fifo then
    fifo = {}
    local z = redis.call('ZRANGE', openK, 0, -1, 'WITHSCORES')
    for i = 1, #z, 2 do
      fifo[#fifo + 1] = z[i]
      if score[z[i]] == nil then score[z[i]] = tonumber(z[i + 1]) end
    end
    for _, id in ipairs(added) do fifo[#fifo + 1] = id end
    table.sort(fifo, before)
  end
  local taken = 0
  for _, id in ipairs(fifo) do
    if taken >= amount then break end
    local l = getLot(id)
    if l and not l.p and l.r > 0 then
      local t = math.min(l.r, amount - taken)
      l.r = l.r - t
      taken = taken + t
      markDirty(id)
    end
  end
  return taken
end

local posted, postedSeq = {}, {}
local function findLot(ref)
  local q = postedSeq[ref]
  if not q then
    local v = redis.call('HGET', srcK, ref)
    if not v then return nil end
    local bar = string.find(v, '|', 1, true)
    if string.sub(v, bar + 1) ~= customer then return nil end
    q = tonumber(string.sub(v, 1, bar - 1))
  end
  local id = pad(q)
  if getLot(id) then return id end
  return nil
end

local out, newEntries, newSources = {'ok', '', '', ''}, {}, {}
local function refused(reason, src) return {'refused', reason, src, ms(bal)} end
for i = 0, n - 1 do
  local b = 5 + i * 6
  local kind, src, ref, pts, exp, why = ARGV[b], ARGV[b + 1], ARGV[b + 2], tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4]), ARGV[b + 5]
  local v = nil
  if not posted[src] then v = redis.call('HGET', srcK, src) end
  if posted[src] then
    out[#out + 1] = 'd'; out[#out + 1] = posted[src]
  elseif v then
    local bar = string.find(v, '|', 1, true)
    if string.sub(v, bar + 1) == customer then
      out[#out + 1] = 'd'; out[#out + 1] = redis.call('LINDEX', logK, tonumber(string.sub(v, 1, bar - 1)) - 1)
    else
      out[#out + 1] = 'o'; out[#out + 1] = v
    end
  else
    local d, pd, sf = 0, 0, 0
    local q = seq + 1
    if kind == 'earn' or kind == 'pending_earn' or (kind == 'adjust' and pts > 0) then
      local id = pad(q)
      lots[id] = {s = src, n = pts, r = pts, v = 0, e = 0, x = exp, p = kind == 'pending_earn'}
      markDirty(id)
      if lots[id].p then pd = pts else d = pts; becameSpendable(id) end
    elseif kind == 'redeem' or kind == 'adjust' then
      local amount = math.abs(pts)
      if amount > bal then return refused('insufficient', src) end
      d = -consume(amount)
    else
      local id = findLot(ref)
      if not id then return refused('unknown_lot', src) end
      local l = lots[id]
      if kind == 'approve' then
        if not l.p then return refused('lot_state', src) end
        l.p = false
        d, pd = l.r, -l.r
        markDirty(id)
        if l.r > 0 then becameSpendable(id) end
      elseif kind == 'expire' then
        if l.p or l.x == 0 or l.x > now then return refused('lot_state', src) end
        d = -l.r
        l.e = l.e + l.r
        l.r = 0
        markDirty(id)
      else -- reverse: from the lot itself, then (only once it is empty) the others FIFO
        -- What the customer had of the lot: not what expired, not what was taken back before.
        local asked = math.min(pts, l.n - l.e - l.v)
        local fromLot = math.min(asked, l.r)
        l.r = l.r - fromLot
        l.v = l.v + fromLot
        markDirty(id)
        if l.p then
          pd = -fromLot
          sf = pts - fromLot
        else
          local others = consume(math.min(asked - fromLot, bal - fromLot))
          l.v = l.v + others
          d = -(fromLot + others)
          sf = pts - fromLot - others
        end
      end
    end
    if bal + d > maxBalance or pend + pd > maxBalance then return refused('balance_limit', src) end
    seq, bal, pend = q, bal + d, pend + pd
    local e = cjson.encode({k = kind, s = src, r = ref, n = ms(pts), x = ms(exp), w = why, q = ms(q), at = ms(now),
      d = ms(d), pd = ms(pd), sf = ms(sf), b = ms(bal), p = ms(pend)})
    posted[src], postedSeq[src] = e, q
    newEntries[#newEntries + 1] = e
    newSources[#newSources + 1] = src
    newSources[#newSources + 1] = ms(q) .. '|' .. customer
    out[#out + 1] = 'n'; out[#out + 1] = e
  end
end

if #newEntries > 0 then
  redis.call('RPUSH', logK, unpack(newEntries))
  redis.call('HSET', srcK, unpack(newSources))
end
for _, id in ipairs(dirtyList) do
  local l = lots[id]
  redis.call('HSET', lotsK, id, cjson.encode({s = l.s, n = ms(l.n), r = ms(l.r), v = ms(l.v), e = ms(l.e), x = ms(l.x), p = l.p and '1' or '0'}))
  local spendable = (not l.p) and l.r > 0
  if spendable then
    if l.x == 0 then redis.call('ZADD', openK, '+inf', id) else redis.call('ZADD', openK, l.x, id) end
  else
    redis.call('ZREM', openK, id)
  end
  if l.p and l.r > 0 then redis.call('ZADD', pendK, 0, id) else redis.call('ZREM', pendK, id) end
  if spendable and l.x > 0 then redis.call('ZADD', dueK, l.x, id .. '|' .. customer) else redis.call('ZREM', dueK, id .. '|' .. customer) end
end
if #newEntries > 0 then redis.call('HSET', sumK, 'b', ms(bal), 'p', ms(pend), 'q', ms(seq)) end
out[2], out[3], out[4] = ms(bal), ms(pend), ms(seq)
return out
`

// ledgerLotsLua: KEYS lots, open, pend. Answers the records of the
// spendable lots in spending order, then the pending ones, as id, record
// pairs, read at one instant.
const ledgerLotsLua = `
local out = {}
for _, index in ipairs({KEYS[2], KEYS[3]}) do
  for _, id in ipairs(redis.call('ZRANGE', index, 0, -1)) do
    out[#out + 1] = id
    out[#out + 1] = redis.call('HGET', KEYS[1], id)
  end
end
return out
`

// entryRecord and lotRecord are the JSON the scripts write.
type entryRecord struct {
	Kind      loyalty.Kind `json:"k"`
	Source    string       `json:"s"`
	Ref       string       `json:"r"`
	Points    int64        `json:"n,string"`
	ExpiresAt int64        `json:"x,string"`
	Reason    string       `json:"w"`
	Seq       int64        `json:"q,string"`
	CreatedAt int64        `json:"at,string"`
	Delta     int64        `json:"d,string"`
	PDelta    int64        `json:"pd,string"`
	Shortfall int64        `json:"sf,string"`
	Balance   int64        `json:"b,string"`
	Pending   int64        `json:"p,string"`
}

type lotRecord struct {
	Source    string `json:"s"`
	Points    int64  `json:"n,string"`
	Remaining int64  `json:"r,string"`
	Reversed  int64  `json:"v,string"`
	Expired   int64  `json:"e,string"`
	ExpiresAt int64  `json:"x,string"`
	Pending   string `json:"p"`
}

func decodeEntry(raw, customer string) (loyalty.Entry, error) {
	var r entryRecord
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return loyalty.Entry{}, fmt.Errorf("corrupt loyalty entry: %w", err)
	}
	return loyalty.Entry{
		Kind: r.Kind, Source: r.Source, Ref: r.Ref, Points: r.Points, ExpiresAt: msTime(r.ExpiresAt), Reason: r.Reason,
		Customer: customer, Seq: r.Seq, CreatedAt: msTime(r.CreatedAt),
		Delta: r.Delta, PendingDelta: r.PDelta, Shortfall: r.Shortfall, Balance: r.Balance, Pending: r.Pending,
	}, nil
}

func msTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

func expiryMS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

var refusals = map[string]error{
	"insufficient":  loyalty.ErrInsufficientPoints,
	"unknown_lot":   loyalty.ErrUnknownLot,
	"lot_state":     loyalty.ErrLotState,
	"balance_limit": loyalty.ErrBalanceLimit,
}

// Post implements loyalty.Ledger.
func (l *Ledger) Post(ctx context.Context, merchant, customer string, entries []loyalty.Entry) (loyalty.Result, error) {
	entries, err := loyalty.CheckPost(merchant, customer, entries)
	if err != nil {
		return loyalty.Result{}, fmt.Errorf("redisstore: post loyalty entries: %w", err)
	}
	k := l.s.keys.loyalty(merchant, customer)
	args := make([]any, 0, 4+6*len(entries))
	args = append(args, customer, loyalty.Now(l.s.now()).UnixMilli(), len(entries), int64(loyalty.MaxBalance))
	for _, e := range entries {
		args = append(args, string(e.Kind), e.Source, e.Ref, e.Points, expiryMS(e.ExpiresAt), e.Reason)
	}
	reply, err := l.s.scripts.postLedger.Run(ctx, l.s.rdb, k.list(), args...).StringSlice()
	if err != nil {
		return loyalty.Result{}, wrap("post loyalty entries", err)
	}
	if len(reply) == 4 && reply[0] == "refused" {
		bal, _ := strconv.ParseInt(reply[3], 10, 64)
		return loyalty.Result{}, &loyalty.RefusedError{Source: reply[2], Reason: refusals[reply[1]], Balance: bal}
	}
	if len(reply) != 4+2*len(entries) || reply[0] != "ok" {
		return loyalty.Result{}, fmt.Errorf("redisstore: post loyalty entries: unexpected answer of %d items", len(reply))
	}
	var res loyalty.Result
	nums := make([]int64, 3)
	for i := range nums {
		if nums[i], err = strconv.ParseInt(reply[1+i], 10, 64); err != nil {
			return loyalty.Result{}, fmt.Errorf("redisstore: post loyalty entries: %w", err)
		}
	}
	res.Balance = loyalty.Balance{Points: nums[0], Pending: nums[1], Entries: nums[2]}
	res.Entries = make([]loyalty.Entry, len(entries))
	for i := range entries {
		tag, payload := reply[4+2*i], reply[5+2*i]
		var e loyalty.Entry
		switch tag {
		case "n", "d":
			e, err = decodeEntry(payload, customer)
		case "o":
			e, err = l.otherEntry(ctx, merchant, payload)
		default:
			err = fmt.Errorf("unexpected tag %q", tag)
		}
		if err != nil {
			return loyalty.Result{}, fmt.Errorf("redisstore: post loyalty entries: %w", err)
		}
		e.Duplicate = tag != "n"
		res.Entries[i] = e
	}
	return res, nil
}

// otherEntry reads the entry "seq|customer" names: entries never change,
// so reading it after the script is as good as inside.
func (l *Ledger) otherEntry(ctx context.Context, merchant, ref string) (loyalty.Entry, error) {
	seqText, customer, ok := strings.Cut(ref, "|")
	seq, err := strconv.ParseInt(seqText, 10, 64)
	if !ok || err != nil || seq < 1 {
		return loyalty.Entry{}, fmt.Errorf("corrupt loyalty source %q", ref)
	}
	raw, err := l.s.rdb.LIndex(ctx, l.s.keys.loyalty(merchant, customer).log, seq-1).Result()
	if err != nil {
		return loyalty.Entry{}, wrap("read loyalty entry", err)
	}
	return decodeEntry(raw, customer)
}

// Balance implements loyalty.Ledger.
func (l *Ledger) Balance(ctx context.Context, merchant, customer string) (loyalty.Balance, error) {
	if err := checkCustomer(merchant, customer); err != nil {
		return loyalty.Balance{}, err
	}
	vals, err := l.s.rdb.HMGet(ctx, l.s.keys.loyalty(merchant, customer).sum, "b", "p", "q").Result()
	if err != nil {
		return loyalty.Balance{}, wrap("loyalty balance", err)
	}
	var nums [3]int64
	for i, v := range vals {
		if text, ok := v.(string); ok {
			if nums[i], err = strconv.ParseInt(text, 10, 64); err != nil {
				return loyalty.Balance{}, fmt.Errorf("redisstore: loyalty balance: %w", err)
			}
		}
	}
	return loyalty.Balance{Points: nums[0], Pending: nums[1], Entries: nums[2]}, nil
}

func checkCustomer(merchant, customer string) error {
	if err := requireID("merchant", merchant); err != nil {
		return err
	}
	return requireID("customer", customer)
}

// Entries implements loyalty.Ledger: entry seq is at index seq-1 of the
// log.
func (l *Ledger) Entries(ctx context.Context, merchant, customer string, page loyalty.Page) ([]loyalty.Entry, int64, error) {
	if err := checkCustomer(merchant, customer); err != nil {
		return nil, 0, err
	}
	limit := int64(loyalty.PageLimit(page))
	start, stop := -limit, int64(-1)
	if page.Before > 0 {
		stop = page.Before - 2
		start = max(stop-limit+1, 0)
		if stop < 0 {
			return nil, 0, nil
		}
	}
	raws, err := l.s.rdb.LRange(ctx, l.s.keys.loyalty(merchant, customer).log, start, stop).Result()
	if err != nil {
		return nil, 0, wrap("loyalty entries", err)
	}
	out := make([]loyalty.Entry, 0, len(raws))
	for i := len(raws) - 1; i >= 0; i-- {
		e, err := decodeEntry(raws[i], customer)
		if err != nil {
			return nil, 0, fmt.Errorf("redisstore: loyalty entries: %w", err)
		}
		out = append(out, e)
	}
	var next int64
	if len(out) > 0 && out[len(out)-1].Seq > 1 {
		next = out[len(out)-1].Seq
	}
	return out, next, nil
}

// Lots implements loyalty.Ledger.
func (l *Ledger) Lots(ctx context.Context, merchant, customer string) ([]loyalty.Lot, error) {
	if err := checkCustomer(merchant, customer); err != nil {
		return nil, err
	}
	k := l.s.keys.loyalty(merchant, customer)
	reply, err := l.s.scripts.ledgerLots.Run(ctx, l.s.rdb, []string{k.lots, k.open, k.pend}).StringSlice()
	if err != nil {
		return nil, wrap("loyalty lots", err)
	}
	out := make([]loyalty.Lot, 0, len(reply)/2)
	for i := 0; i+1 < len(reply); i += 2 {
		var r lotRecord
		seq, err := strconv.ParseInt(reply[i], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("redisstore: loyalty lots: %w", err)
		}
		if err := json.Unmarshal([]byte(reply[i+1]), &r); err != nil {
			return nil, fmt.Errorf("redisstore: loyalty lots: corrupt lot: %w", err)
		}
		out = append(out, loyalty.Lot{
			ID: r.Source, Seq: seq, Points: r.Points, Remaining: r.Remaining, Reversed: r.Reversed, Expired: r.Expired,
			Pending: r.Pending == "1", ExpiresAt: msTime(r.ExpiresAt),
		})
	}
	return out, nil
}

// DueLots implements loyalty.Ledger.
func (l *Ledger) DueLots(ctx context.Context, merchant string, until time.Time, limit int) ([]loyalty.DueLot, error) {
	if err := requireID("merchant", merchant); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 500
	}
	members, err := l.s.rdb.ZRangeArgsWithScores(ctx, redis.ZRangeArgs{
		Key: l.s.keys.loyaltyDue(merchant), Start: "-inf", Stop: strconv.FormatInt(until.UnixMilli(), 10),
		ByScore: true, Count: int64(limit),
	}).Result()
	if err != nil {
		return nil, wrap("loyalty due lots", err)
	}
	if len(members) == 0 {
		return nil, nil
	}
	out := make([]loyalty.DueLot, 0, len(members))
	cmds := make([]*redis.StringCmd, len(members))
	_, err = l.s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, m := range members {
			id, customer, _ := strings.Cut(m.Member.(string), "|")
			cmds[i] = p.HGet(ctx, l.s.keys.loyalty(merchant, customer).lots, id)
			out = append(out, loyalty.DueLot{Customer: customer, ExpiresAt: msTime(int64(m.Score))})
		}
		return nil
	})
	if err != nil {
		return nil, wrap("loyalty due lots", err)
	}
	for i, cmd := range cmds {
		var r lotRecord
		if err := json.Unmarshal([]byte(cmd.Val()), &r); err != nil {
			return nil, fmt.Errorf("redisstore: loyalty due lots: corrupt lot: %w", err)
		}
		out[i].Lot = r.Source
	}
	return out, nil
}

// Forget implements loyalty.Ledger, in one script in the merchant's slot.
func (l *Ledger) Forget(ctx context.Context, merchant, customer string) (int64, error) {
	if err := requireID("merchant", merchant); err != nil {
		return 0, err
	}
	if err := requireID("customer", customer); err != nil {
		return 0, err
	}
	n, err := l.s.scripts.forgetLedger.Run(ctx, l.s.rdb, l.s.keys.loyalty(merchant, customer).list(), customer).Int64()
	if err != nil {
		return 0, wrap("forget loyalty customer", err)
	}
	return n, nil
}
