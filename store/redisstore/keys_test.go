package redisstore

import (
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/app/loyalty"
)

// workload calls every store method that writes, for the merchants given.
func workload(t *testing.T, s *Store, clock interface{ Advance(time.Duration) }, merchants ...string) {
	t.Helper()
	ctx := context.Background()
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s = %v; want nil", what, err)
		}
	}
	for i, id := range merchants {
		m := app.Merchant{
			ID: id, Platform: app.PlatformShopify, Domain: id + ".myshopify.com", Name: "Śrī Dēvī Silks",
			Country: "IN", Timezone: "Asia/Kolkata", Status: app.MerchantActive, APIKeyHash: strings.Repeat("ab", 16) + id,
		}
		must("CreateMerchant", s.CreateMerchant(ctx, m))
		m.Domain = id + "-new.myshopify.com"
		_, err := s.UpdateMerchant(ctx, id, func(stored *app.Merchant) error { stored.Domain = m.Domain; return nil })
		must("UpdateMerchant", err)
		_, err = s.MerchantByDomain(ctx, m.Platform, m.Domain)
		must("MerchantByDomain", err)

		_, err = s.Claim(ctx, id, "shopify:evt-"+id, time.Minute)
		must("Claim", err)
		must("Complete", s.Complete(ctx, id, "shopify:evt-"+id, time.Hour))
		_, err = s.Claim(ctx, id, "woo:1", time.Minute)
		must("Claim", err)
		must("Release", s.Release(ctx, id, "woo:1"))

		for range 4 {
			must("Enqueue", s.Enqueue(ctx, newJob(id, "", time.Time{})))
		}
		_, err = s.ClaimAndEnqueue(ctx, "shopify:evt-x"+id, time.Hour, newJob(id, "cod:"+id, time.Time{}))
		must("ClaimAndEnqueue", err)
		must("Enqueue", s.Enqueue(ctx, newJob(id, "cart:"+id, time.Now().Add(time.Hour))))
		_, err = s.Cancel(ctx, id, "cart:"+id)
		must("Cancel", err)

		d := app.Delivery{
			ID: app.NewID(time.Now()), Merchant: id, EventID: "e1", Event: app.EventOrderPlaced,
			Subject: "order:1001", CustomerID: "7712398123",
			Phone: "+919812345678", Provider: "interakt", Template: "order_placed", Status: app.DeliveryQueued,
			CreatedAt: time.Now().Add(time.Duration(i) * time.Millisecond),
		}
		must("CreateDelivery", s.CreateDelivery(ctx, d))
		_, err = s.UpdateDelivery(ctx, id, d.ID, func(d *app.Delivery) error {
			d.Status, d.ProviderMessageID = app.DeliverySent, "wamid.HBgM"+id
			d.Subject = "order:1002"
			return nil
		})
		must("UpdateDelivery", err)
		redacted := d
		redacted.ID, redacted.Phone, redacted.CustomerID, redacted.Subject = app.NewID(time.Now()), "+14155550100", "99", "cart:tok"
		must("CreateDelivery", s.CreateDelivery(ctx, redacted))
		_, err = s.DeleteCustomerDeliveries(ctx, id, app.CustomerMatch{Phone: redacted.Phone, CustomerID: "99", Subjects: []string{"cart:tok"}})
		must("DeleteCustomerDeliveries", err)
		_, err = s.DeliveryByProviderMessageID(ctx, id, "wamid.HBgM"+id)
		must("DeliveryByProviderMessageID", err)
		_, _, err = s.ListDeliveries(ctx, id, app.DeliveryFilter{Status: app.DeliverySent})
		must("ListDeliveries", err)
		must("Incr", s.Incr(ctx, 1,
			app.Counter{Merchant: id, Day: app.DayOf(time.Now()), Subject: app.EventOrderPlaced, Outcome: "sent"},
			app.Counter{Merchant: id, Day: app.DayOf(time.Now()), Subject: "inputs", Outcome: "shopify"}))
		_, err = s.DailyCounts(ctx, id, app.DayOf(time.Now()), app.DayOf(time.Now()))
		must("DailyCounts", err)

		must("MapSet", s.MapSet(ctx, id, "rules", map[string]string{"order.placed": `{"template":"order_placed"}`}))
		must("MapReplace", s.MapReplace(ctx, id, "status_map", map[string]string{"completed": "order.delivered"}))
		must("MapDelete", s.MapDelete(ctx, id, "rules", "cod.reminder"))
		_, err = s.MapAll(ctx, id, "rules")
		must("MapAll", err)
		_, _, err = s.AdvanceState(ctx, id, "order:1001:status", 1, "processing", time.Hour)
		must("AdvanceState", err)
		must("IndexAdd", s.IndexAdd(ctx, id, "cod_orders", "5001", time.Now(), time.Hour))
		must("IndexAdd", s.IndexAdd(ctx, id, "cod_orders", "5002", time.Now(), time.Hour))
		must("IndexRemove", s.IndexRemove(ctx, id, "cod_orders", "5002"))
		_, err = s.IndexNewest(ctx, id, "cod_orders", 0, 10)
		must("IndexNewest", err)
		_, err = s.Throttle(ctx, id, "meta:1234567890", 1000, 24*time.Hour, 0) // PX a day: still there when checked
		must("Throttle", err)

		ledger := s.Ledger()
		_, err = ledger.Post(ctx, id, "+919812345678", []loyalty.Entry{
			{Kind: loyalty.KindEarn, Source: "order:1001:earn", Points: 100, ExpiresAt: time.Now().Add(time.Hour)},
			{Kind: loyalty.KindPendingEarn, Source: "order:1002:earn", Points: 50},
			{Kind: loyalty.KindRedeem, Source: "redeem:1", Points: 10},
		})
		must("ledger Post", err)
		_, err = ledger.Post(ctx, id, "7712398123", []loyalty.Entry{{Kind: loyalty.KindEarn, Source: "order:1001:earn", Points: 100}})
		must("ledger Post of another customer's source", err)
		_, _, err = ledger.Entries(ctx, id, "+919812345678", loyalty.Page{})
		must("ledger Entries", err)
		_, err = ledger.Lots(ctx, id, "+919812345678")
		must("ledger Lots", err)
		_, err = ledger.DueLots(ctx, id, time.Now().Add(2*time.Hour), 10)
		must("ledger DueLots", err)
	}
	jobs, err := s.ClaimJobs(ctx, time.Minute, 100)
	must("ClaimJobs", err)
	for i, j := range jobs {
		switch i % 4 {
		case 0:
			must("Ack", s.Ack(ctx, j))
		case 1:
			must("Retry", s.Retry(ctx, j, time.Time{}, "wati: retryable status 429"))
		case 2:
			must("Bury", s.Bury(ctx, j, "permanent"))
			must("RequeueDead", s.RequeueDead(ctx, j.Merchant, j.ID))
		case 3:
			must("Extend", s.Extend(ctx, j, time.Minute))
			must("Bury", s.Bury(ctx, j, "permanent"))
		}
	}
	clock.Advance(2 * time.Minute)
	_, err = s.ClaimJobs(ctx, time.Minute, 100)
	must("ClaimJobs", err)
	_, err = s.Depth(ctx)
	must("Depth", err)
	must("SweepIndex", s.SweepIndex(ctx))
	_, err = s.ListMerchants(ctx)
	must("ListMerchants", err)
	must("Enqueue", s.Enqueue(ctx, newJob(merchants[0], "cart:drop", time.Now().Add(time.Hour))))
	_, err = s.DropJobs(ctx, merchants[0])
	must("DropJobs", err)
	must("PutOnce", s.PutOnce(ctx, "signin-link:"+strings.Repeat("cd", 32), merchants[0], time.Hour))
	must("PutOnce", s.PutOnce(ctx, "signin-link:taken", merchants[0], time.Hour))
	_, err = s.TakeOnce(ctx, "signin-link:taken")
	must("TakeOnce", err)
}

// Every key written carries the prefix; merchant keys carry the merchant's
// hash tag; the only other keys are the known global ones.
func TestKeysCarryPrefixAndTag(t *testing.T) {
	t.Parallel()
	srv, err := startRedis(0, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.kill)
	clock := newClock()
	const prefix = "sb-test:"
	s := New(newClient(srv.addr()), Options{Prefix: prefix, Now: clock.Now, ServerClockOffset: clock.Offset})
	t.Cleanup(func() { s.Close() })
	merchants := []string{"01jc5m7k2v", "m-ließ", "m-प्रिया"}
	workload(t, s, clock, merchants...)

	keys := scanKeys(t, s.rdb, "")
	if len(keys) == 0 {
		t.Fatal("SCAN after the workload found no keys")
	}
	merchantKey := regexp.MustCompile(`^` + regexp.QuoteMeta(prefix) + `m:\{([^{}]+)\}:(merchant|idem:.+|q:(due|lease|jobs|payload|dead|keys)|dlv:(rec:.+|idx|status:.+|event:.+|msgid|phone:.+|customer:.+|subject:.+)|map:.+|state:.+|index:.+|throttle:.+|loy:(src|due|(sum|log|lots|open|pend):.+)|stats:\d{4}-\d\d-\d\d)$`)
	globalKey := regexp.MustCompile(`^` + regexp.QuoteMeta(prefix) + `(merchants|idx:domain:shopify:.+|idx:apikey:.+|\{queue\}:(merchants|known)|once:.+)$`)
	tagged := map[string]bool{}
	for _, key := range keys {
		if m := merchantKey.FindStringSubmatch(key); m != nil {
			tagged[m[1]] = true
			continue
		}
		if !globalKey.MatchString(key) {
			t.Errorf("key %q is neither a merchant key with its hash tag nor a known global key", key)
		}
	}
	for _, id := range merchants {
		if !tagged[id] {
			t.Errorf("no key tagged {%s}; want the merchant's keys under its tag", id)
		}
	}
	// The per-merchant data and the customer SETs are where keys.go says,
	// and updates and redactions keep the SETs to the records.
	m := prefix + "m:{" + merchants[0] + "}:"
	for key, want := range map[string]bool{
		m + "map:rules": true, m + "map:status_map": true, m + "state:order:1001:status": true,
		m + "index:cod_orders":         true,
		m + "throttle:meta:1234567890": true,
		m + "dlv:phone:+919812345678":  true, m + "dlv:customer:7712398123": true, m + "dlv:subject:order:1002": true,
		m + "dlv:subject:order:1001": false, m + "dlv:phone:+14155550100": false, m + "dlv:customer:99": false,
		m + "dlv:subject:cart:tok": false,
		m + "loy:src":              true, m + "loy:due": true, m + "loy:sum:+919812345678": true, m + "loy:log:+919812345678": true,
		m + "loy:lots:+919812345678": true, m + "loy:open:+919812345678": true, m + "loy:pend:+919812345678": true,
	} {
		if n := s.rdb.Exists(context.Background(), key).Val(); (n == 1) != want {
			t.Errorf("EXISTS %s = %d; want %v", key, n, want)
		}
	}
}

// Every script and every MULTI touches keys of one cluster slot.
func TestScriptsTouchOneSlot(t *testing.T) {
	t.Parallel()
	clock := newClock()
	s, _ := newTestStore(t, clocked(clock))
	checker := &slotChecker{t: t}
	s.rdb.AddHook(checker)
	workload(t, s, clock, "01jc5m7k2v", "m-ravi", "m-ünïcode")
	if checker.scripts == 0 || checker.multis == 0 {
		t.Fatalf("checked %d scripts and %d MULTI blocks; want some of each", checker.scripts, checker.multis)
	}
}

// slotChecker fails the test when one EVAL/EVALSHA or MULTI block names
// keys of different cluster slots.
type slotChecker struct {
	t       *testing.T
	mu      sync.Mutex
	scripts int
	multis  int
}

func (c *slotChecker) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *slotChecker) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.checkScript(cmd)
		return next(ctx, cmd)
	}
}

// checkScript checks the keys of cmd when it runs a script, alone or in a
// pipeline.
func (c *slotChecker) checkScript(cmd redis.Cmder) {
	if name := cmd.Name(); name == "eval" || name == "evalsha" {
		args := cmd.Args()
		n := args[2].(int)
		keys := make([]string, n)
		for i := range n {
			keys[i] = args[3+i].(string)
		}
		c.mu.Lock()
		c.scripts++
		c.mu.Unlock()
		c.check(name, keys)
	}
}

func (c *slotChecker) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			c.checkScript(cmd)
		}
		if len(cmds) > 2 && cmds[0].Name() == "multi" {
			var keys []string
			for _, cmd := range cmds[1 : len(cmds)-1] {
				keys = append(keys, cmd.Args()[1].(string))
			}
			c.mu.Lock()
			c.multis++
			c.mu.Unlock()
			c.check("multi", keys)
		}
		return next(ctx, cmds)
	}
}

func (c *slotChecker) check(what string, keys []string) {
	for _, key := range keys[1:] {
		if keySlot(key) != keySlot(keys[0]) {
			c.t.Errorf("%s touches %q (slot %d) and %q (slot %d); want one slot", what, keys[0], keySlot(keys[0]), key, keySlot(key))
		}
	}
}

// keySlot is Redis Cluster's slot of key: CRC16 (XMODEM) of its hash tag,
// or of the whole key when it has none, modulo 16384.
func keySlot(key string) uint16 {
	if start := strings.IndexByte(key, '{'); start >= 0 {
		if end := strings.IndexByte(key[start+1:], '}'); end > 0 {
			key = key[start+1 : start+1+end]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc % 16384
}

func TestKeySlot(t *testing.T) {
	// Values from the Redis Cluster specification and CLUSTER KEYSLOT.
	tests := []struct {
		key  string
		want uint16
	}{
		{"123456789", 0x31C3 % 16384},
		{"foo", 12182},
		{"{user1000}.following", 3443},
		{"{user1000}.followers", 3443},
	}
	for _, tc := range tests {
		if got := keySlot(tc.key); got != tc.want {
			t.Errorf("keySlot(%q) = %d; want %d", tc.key, got, tc.want)
		}
	}
}
