package redisstore

import (
	"strings"
	"time"
)

// Every key the store writes is built here. A merchant's keys share the hash
// tag {<merchant id>} so that a Redis Cluster keeps them in one slot and the
// scripts may touch several at once. The few global keys (unique indexes,
// the merchant list, the queue index) live outside any merchant's slot and
// are never used in a script together with a merchant key.
//
// Keys (after the prefix):
//
//	m:{id}:merchant              merchant record (JSON)
//	m:{id}:idem:<key>            idempotency claim: "processing" or "done"
//	m:{id}:q:due                 ZSET job id → due ms (ready and scheduled)
//	m:{id}:q:lease               ZSET job id → lease expiry ms
//	m:{id}:q:jobs                HASH job id → job record (JSON), its payload in it
//	                             (base64, last); dead ones included
//	m:{id}:q:payload             HASH job id → job payload, raw, of jobs older code
//	                             wrote (commit 6ea8ae9 and before); none new
//	m:{id}:q:dead                ZSET job id → buried ms
//	m:{id}:q:keys                HASH job key → job id, live jobs only
//	m:{id}:dlv:rec:<id>          delivery record (JSON)
//	m:{id}:dlv:idx               ZSET delivery id → created ms, of deliveries created
//	                             before the status sets became the index; purged
//	m:{id}:dlv:status:<status>   ZSET delivery id → created ms; together, the index
//	                             of every delivery
//	m:{id}:dlv:event:<event>     ZSET delivery id → created ms
//	m:{id}:dlv:msgid             HASH provider message id → delivery id
//	m:{id}:dlv:phone:<phone>     SET delivery ids sent to the phone
//	m:{id}:dlv:customer:<cid>    SET delivery ids of the platform customer
//	m:{id}:dlv:subject:<subj>    SET delivery ids about the subject ("order:1")
//	m:{id}:map:<name>            HASH field → value, a named map (rules, ...)
//	m:{id}:state:<key>           HASH {v, value}: a versioned state (AdvanceState)
//	m:{id}:index:<name>          ZSET member → ms, a named time index (IndexAdd)
//	m:{id}:throttle:<key>        the last turn given, then the latest slots' times, 16 digits of µs each (Throttle), PX expiry
//	m:{id}:stats:<day>           HASH "<subject>|<outcome>" → count
//	m:{id}:loy:src               HASH ledger source → "<seq>|<customer>" of its entry
//	m:{id}:loy:due               ZSET "<lot>|<customer>" → expiry ms: spendable lots
//	                             with an expiry that hold points, for the sweep
//	m:{id}:loy:sum:<customer>    HASH b, p, q: spendable, pending, newest seq
//	m:{id}:loy:log:<customer>    LIST entries (JSON), entry seq at index seq-1
//	m:{id}:loy:lots:<customer>   HASH lot → lot (JSON); a lot is its entry's seq,
//	                             zero-padded to 12 digits
//	m:{id}:loy:open:<customer>   ZSET lot → expiry ms (+inf: never): spendable lots
//	                             that hold points, in spending order
//	m:{id}:loy:pend:<customer>   ZSET lot → 0: pending lots that hold points
//	merchants                    SET of merchant ids
//	idx:domain:<platform>:<dom>  merchant id owning the platform and domain
//	idx:apikey:<hash>            merchant id owning the API key hash
//	{queue}:merchants            ZSET merchant id → earliest time it may have work
//	{queue}:known                SET of merchant ids that ever had a job
//	once:<key>                   a one-time value (PutOnce), PX expiry; the key
//	                             is a hash the app made, never a secret
//
// PurgeMerchantData finds a merchant's keys with SCAN MATCH m:{id}:* (on a
// cluster, on the node that owns the merchant's slot), so every key of a
// merchant must start with merchant(id).
const (
	// DefaultPrefix starts every key when Options.Prefix is empty.
	DefaultPrefix = "sb:"

	// statsTTL keeps a day of counters a little over a year, as long as
	// the longest range a read covers (app.MaxStatsDays).
	statsTTL = 400 * 24 * time.Hour
)

type keys struct{ prefix string }

// merchant is the start of every key of merchant id, hash tag included.
func (k keys) merchant(id string) string { return k.prefix + "m:{" + id + "}:" }

func (k keys) merchantRecord(id string) string { return k.merchant(id) + "merchant" }
func (k keys) merchantIDs() string             { return k.prefix + "merchants" }
func (k keys) domainIndex(platform, domain string) string {
	return k.prefix + "idx:domain:" + platform + ":" + domain
}
func (k keys) apiKeyIndex(hash string) string { return k.prefix + "idx:apikey:" + hash }

// merchantPattern matches every key of merchant id in SCAN, the glob
// characters of the prefix and the id taken literally.
func (k keys) merchantPattern(id string) string { return globEscape(k.merchant(id)) + "*" }

// purgeKeeps reports whether PurgeMerchantData leaves key, one of merchant
// id's: the merchant record and the statistics stay, and the queue's
// structures are purged job by job, since a job a worker holds stays.
func (k keys) purgeKeeps(id, key string) bool {
	rest, ok := strings.CutPrefix(key, k.merchant(id))
	return !ok || rest == "merchant" || strings.HasPrefix(rest, "stats:") || strings.HasPrefix(rest, "q:")
}

// globEscape escapes the characters SCAN MATCH reads as a pattern.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (k keys) once(key string) string { return k.prefix + "once:" + key }

func (k keys) idempotency(merchant, key string) string { return k.merchant(merchant) + "idem:" + key }

// queueKeys are one merchant's queue structures.
type queueKeys struct {
	due, lease, jobs, payload, dead, keys string
}

func (k keys) queue(merchant string) queueKeys {
	base := k.merchant(merchant) + "q:"
	return queueKeys{
		due:     base + "due",
		lease:   base + "lease",
		jobs:    base + "jobs",
		payload: base + "payload",
		dead:    base + "dead",
		keys:    base + "keys",
	}
}

func (k keys) queueIndex() string     { return k.prefix + "{queue}:merchants" }
func (k keys) queueMerchants() string { return k.prefix + "{queue}:known" }

// queueWake is the pub/sub channel told when a merchant's work becomes due
// now, so idle workers in other processes claim at once (WatchEnqueued).
func (k keys) queueWake() string { return k.prefix + "{queue}:wake" }

func (k keys) delivery(merchant, id string) string { return k.merchant(merchant) + "dlv:rec:" + id }
func (k keys) deliveryIndex(merchant string) string {
	return k.merchant(merchant) + "dlv:idx"
}
func (k keys) deliveryStatus(merchant, status string) string {
	return k.merchant(merchant) + "dlv:status:" + status
}
func (k keys) deliveryEvent(merchant, event string) string {
	return k.merchant(merchant) + "dlv:event:" + event
}
func (k keys) deliveryMessageIDs(merchant string) string { return k.merchant(merchant) + "dlv:msgid" }

// deliveryPhone, deliveryCustomer and deliverySubject are the SETs a
// privacy redaction reads to find a customer's deliveries.
func (k keys) deliveryPhone(merchant, phone string) string {
	return k.merchant(merchant) + "dlv:phone:" + phone
}
func (k keys) deliveryCustomer(merchant, customerID string) string {
	return k.merchant(merchant) + "dlv:customer:" + customerID
}
func (k keys) deliverySubject(merchant, subject string) string {
	return k.merchant(merchant) + "dlv:subject:" + subject
}

func (k keys) dataMap(merchant, name string) string { return k.merchant(merchant) + "map:" + name }
func (k keys) state(merchant, key string) string    { return k.merchant(merchant) + "state:" + key }
func (k keys) throttle(merchant, key string) string { return k.merchant(merchant) + "throttle:" + key }
func (k keys) index(merchant, name string) string   { return k.merchant(merchant) + "index:" + name }

func (k keys) stats(merchant, day string) string { return k.merchant(merchant) + "stats:" + day }

// loyaltyKeys are the keys of one customer's points ledger, with the
// merchant's source index and due lots, all in the merchant's slot.
type loyaltyKeys struct {
	src, due, sum, log, lots, open, pend string
}

func (k keys) loyalty(merchant, customer string) loyaltyKeys {
	base := k.merchant(merchant) + "loy:"
	return loyaltyKeys{
		src:  base + "src",
		due:  base + "due",
		sum:  base + "sum:" + customer,
		log:  base + "log:" + customer,
		lots: base + "lots:" + customer,
		open: base + "open:" + customer,
		pend: base + "pend:" + customer,
	}
}

// list is the KEYS of postLedgerLua, in its order.
func (l loyaltyKeys) list() []string {
	return []string{l.src, l.due, l.sum, l.log, l.lots, l.open, l.pend}
}

func (k keys) loyaltyDue(merchant string) string { return k.merchant(merchant) + "loy:due" }
