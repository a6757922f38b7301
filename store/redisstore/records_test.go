package redisstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/storebridge/storebridge/app"
)

func merchant(id, domain string) app.Merchant {
	return app.Merchant{
		ID: id, Platform: app.PlatformWooCommerce, Domain: domain, StoreURL: "https://" + domain,
		Name: "Lakshmi Handlooms & Co.", Country: "IN", Timezone: "Asia/Kolkata", Status: app.MerchantActive,
		APIKeyHash: "sha256-" + id,
		Secrets:    map[string]app.Sealed{"consumer_key": "v1.0a1b2c3d.Y2tfc2VhbGVk"},
		CreatedAt:  time.Date(2025, 3, 14, 9, 30, 0, 0, time.UTC),
	}
}

// Many creates race for one domain: exactly one wins, and the losers leave
// no index behind.
func TestCreateMerchantRaceOneWinner(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newTestStore(t, Options{})
	const racers = 16
	errs := make([]error, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			errs[i] = s.CreateMerchant(ctx, merchant(fmt.Sprintf("m-%02d", i), "lakshmi.example.in"))
		})
	}
	wg.Wait()
	var winner string
	for i, err := range errs {
		switch {
		case err == nil && winner == "":
			winner = fmt.Sprintf("m-%02d", i)
		case err == nil:
			t.Errorf("CreateMerchant(m-%02d) = nil; want ErrConflict, %s already won", i, winner)
		case !errors.Is(err, app.ErrConflict):
			t.Errorf("CreateMerchant(m-%02d) = %v; want ErrConflict", i, err)
		}
	}
	got, err := s.MerchantByDomain(ctx, app.PlatformWooCommerce, "lakshmi.example.in")
	if err != nil || got.ID != winner {
		t.Fatalf("MerchantByDomain = %q, %v; want %s", got.ID, err, winner)
	}
	for i := range racers {
		id := fmt.Sprintf("m-%02d", i)
		if id == winner {
			continue
		}
		if _, err := s.MerchantByAPIKeyHash(ctx, "sha256-"+id); !errors.Is(err, app.ErrNotFound) {
			t.Errorf("MerchantByAPIKeyHash(loser %s) = %v; want ErrNotFound (index given back)", id, err)
		}
	}
	list, err := s.ListMerchants(ctx)
	if err != nil || len(list) != 1 || list[0].ID != winner {
		t.Errorf("ListMerchants = %d merchants, %v; want only %s", len(list), err, winner)
	}
}

func TestUpdateMerchantMovesDomain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newTestStore(t, Options{})
	a, b := merchant("m-a", "a.example.in"), merchant("m-b", "b.example.in")
	for _, m := range []app.Merchant{a, b} {
		if err := s.CreateMerchant(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.UpdateMerchant(ctx, a.ID, func(m *app.Merchant) error { m.Domain = "b.example.in"; return nil }); !errors.Is(err, app.ErrConflict) {
		t.Fatalf("UpdateMerchant(to a taken domain) = %v; want ErrConflict", err)
	}
	if _, err := s.UpdateMerchant(ctx, a.ID, func(m *app.Merchant) error {
		m.Domain, m.APIKeyHash = "a-new.example.in", "sha256-rotated"
		return nil
	}); err != nil {
		t.Fatalf("UpdateMerchant(move) = %v; want nil", err)
	}
	tests := []struct {
		domain, hash string
		want         error
	}{
		{"a.example.in", "sha256-m-a", app.ErrNotFound},
		{"a-new.example.in", "sha256-rotated", nil},
	}
	for _, tc := range tests {
		if _, err := s.MerchantByDomain(ctx, app.PlatformWooCommerce, tc.domain); !errors.Is(err, tc.want) {
			t.Errorf("MerchantByDomain(%s) = %v; want %v", tc.domain, err, tc.want)
		}
		if _, err := s.MerchantByAPIKeyHash(ctx, tc.hash); !errors.Is(err, tc.want) {
			t.Errorf("MerchantByAPIKeyHash(%s) = %v; want %v", tc.hash, err, tc.want)
		}
	}
	// The old domain is free for another merchant.
	if err := s.CreateMerchant(ctx, merchant("m-c", "a.example.in")); err != nil {
		t.Errorf("CreateMerchant(freed domain) = %v; want nil", err)
	}
}

// An index left by an interrupted write (index set, record never written)
// reads as not found rather than as another merchant.
func TestStaleIndexReadsNotFound(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newTestStore(t, Options{})
	if err := s.rdb.Set(ctx, s.keys.domainIndex("shopify", "ghost.myshopify.com"), "m-ghost", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MerchantByDomain(ctx, app.PlatformShopify, "ghost.myshopify.com"); !errors.Is(err, app.ErrNotFound) {
		t.Errorf("MerchantByDomain(stale index) = %v; want ErrNotFound", err)
	}
	if err := s.rdb.SAdd(ctx, s.keys.merchantIDs(), "m-ghost").Err(); err != nil {
		t.Fatal(err)
	}
	if list, err := s.ListMerchants(ctx); err != nil || len(list) != 0 {
		t.Errorf("ListMerchants with a listed id and no record = %v, %v; want none", list, err)
	}
}

func delivery(merchant, id, event string, status app.DeliveryStatus, created time.Time) app.Delivery {
	return app.Delivery{
		ID: id, Merchant: merchant, EventID: "evt-" + id, Event: event, Phone: "+447700900123",
		Provider: "wati", Template: "cod_confirm", Status: status, CreatedAt: created,
		History: []app.StatusChange{{Status: status, At: created, Note: "créé"}},
	}
}

// Deliveries created in the same millisecond page without loss or repeat,
// and a status change moves a record between filters.
func TestListDeliveriesTiesAndFilters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newTestStore(t, Options{})
	const m = "m-deepa"
	base := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	var all []string
	for i := range 23 {
		created := base.Add(time.Duration(i/5) * time.Millisecond) // five per millisecond
		event := app.EventOrderPlaced
		if i%3 == 0 {
			event = app.EventCODConfirmationAsked
		}
		d := delivery(m, fmt.Sprintf("d%02d", i), event, app.DeliveryQueued, created)
		if err := s.CreateDelivery(ctx, d); err != nil {
			t.Fatal(err)
		}
		all = append(all, d.ID)
	}
	if err := s.CreateDelivery(ctx, delivery(m, "d00", app.EventOrderPlaced, app.DeliveryQueued, base)); !errors.Is(err, app.ErrConflict) {
		t.Errorf("CreateDelivery(taken id) = %v; want ErrConflict", err)
	}
	list := func(f app.DeliveryFilter) []string {
		var ids []string
		for page := 0; ; page++ {
			got, next, err := s.ListDeliveries(ctx, m, f)
			if err != nil {
				t.Fatalf("ListDeliveries(%+v) = %v", f, err)
			}
			for _, d := range got {
				ids = append(ids, d.ID)
			}
			if next == "" || page > 50 {
				return ids
			}
			f.Cursor = next
		}
	}
	var want []string
	for i := len(all) - 1; i >= 0; i-- {
		want = append(want, all[i])
	}
	if got := list(app.DeliveryFilter{Limit: 4}); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ListDeliveries pages of 4 = %v; want %v", got, want)
	}

	for _, id := range []string{"d03", "d04", "d21"} {
		_, err := s.UpdateDelivery(ctx, m, id, func(d *app.Delivery) error {
			d.Status = app.DeliveryFailed
			d.History = append(d.History, app.StatusChange{Status: app.DeliveryFailed, At: base, Note: "131026"})
			return nil
		})
		if err != nil {
			t.Fatalf("UpdateDelivery(%s) = %v", id, err)
		}
	}
	tests := []struct {
		filter app.DeliveryFilter
		want   []string
	}{
		{app.DeliveryFilter{Status: app.DeliveryFailed, Limit: 1}, []string{"d21", "d04", "d03"}},
		{app.DeliveryFilter{Status: app.DeliveryFailed, Event: app.EventCODConfirmationAsked, Limit: 1}, []string{"d21", "d03"}},
		{app.DeliveryFilter{Event: app.EventCODConfirmationAsked, Status: app.DeliveryQueued}, []string{"d18", "d15", "d12", "d09", "d06", "d00"}},
	}
	for _, tc := range tests {
		if got := list(tc.filter); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("ListDeliveries(%+v) = %v; want %v", tc.filter, got, tc.want)
		}
	}
	var ve *app.ValidationError
	if _, _, err := s.ListDeliveries(ctx, m, app.DeliveryFilter{Cursor: "garbage"}); !errors.As(err, &ve) {
		t.Errorf("ListDeliveries(bad cursor) = %v; want a ValidationError", err)
	}
}

func TestUpdateDeliveryAbortAndMessageID(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newTestStore(t, Options{})
	const m = "m-farah"
	if err := s.CreateDelivery(ctx, delivery(m, "d1", app.EventOrderShipped, app.DeliveryQueued, time.Now())); err != nil {
		t.Fatal(err)
	}
	errRefused := errors.New("status moves only forward")
	if _, err := s.UpdateDelivery(ctx, m, "d1", func(d *app.Delivery) error {
		d.Status = app.DeliveryRead
		return errRefused
	}); !errors.Is(err, errRefused) {
		t.Fatalf("UpdateDelivery(change fails) = %v; want the change's error", err)
	}
	if d, _ := s.GetDelivery(ctx, m, "d1"); d.Status != app.DeliveryQueued {
		t.Errorf("status after an aborted update = %s; want queued", d.Status)
	}
	for _, msgID := range []string{"wamid.first", "wamid.second"} {
		if _, err := s.UpdateDelivery(ctx, m, "d1", func(d *app.Delivery) error {
			d.ProviderMessageID = msgID
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if d, err := s.DeliveryByProviderMessageID(ctx, m, "wamid.second"); err != nil || d.ID != "d1" {
		t.Errorf("DeliveryByProviderMessageID(second) = %q, %v; want d1", d.ID, err)
	}
	if _, err := s.DeliveryByProviderMessageID(ctx, m, "wamid.first"); !errors.Is(err, app.ErrNotFound) {
		t.Errorf("DeliveryByProviderMessageID(replaced id) = %v; want ErrNotFound", err)
	}
	if _, err := s.DeliveryByProviderMessageID(ctx, "m-other", "wamid.second"); !errors.Is(err, app.ErrNotFound) {
		t.Errorf("DeliveryByProviderMessageID(other merchant) = %v; want ErrNotFound", err)
	}
}

func TestStatsDaysOneRoundTripAndExpiry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newTestStore(t, Options{})
	const m = "m-kiran"
	c := func(day, subject, outcome string) app.Counter {
		return app.Counter{Merchant: m, Day: day, Subject: subject, Outcome: outcome}
	}
	if err := s.Incr(ctx, 2, c("2025-02-28", app.EventOrderPlaced, "sent"), c("2025-03-01", app.EventOrderPlaced, "sent"),
		c("2025-03-01", app.EventOrderPlaced, "skipped.no_phone"), c("2025-03-02", "inputs", "shopify")); err != nil {
		t.Fatalf("Incr = %v", err)
	}
	trips := &roundTrips{}
	s.rdb.AddHook(trips)
	got, err := s.DailyCounts(ctx, m, "2025-02-01", "2025-03-01")
	want := map[string]map[string]map[string]int64{
		"2025-02-28": {app.EventOrderPlaced: {"sent": 2}},
		"2025-03-01": {app.EventOrderPlaced: {"sent": 2, "skipped.no_phone": 2}},
	}
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("DailyCounts(Feb 1..Mar 1) = %v, %v; want %v", got, err, want)
	}
	if single, pipelines := trips.counts(); single != 0 || pipelines != 1 {
		t.Errorf("DailyCounts(29 days) took %d commands and %d pipelines; want one pipeline", single, pipelines)
	}
	ttl, err := s.rdb.TTL(ctx, s.keys.stats(m, "2025-03-01")).Result()
	if err != nil || ttl < statsTTL-time.Minute || ttl > statsTTL {
		t.Errorf("TTL of a stats day = %v, %v; want about %v", ttl, err, statsTTL)
	}
}

// roundTrips counts the commands sent alone and the pipelines sent.
type roundTrips struct {
	mu                sync.Mutex
	single, pipelines int
}

func (r *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		r.mu.Lock()
		r.single++
		r.mu.Unlock()
		return next(ctx, cmd)
	}
}

func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		r.mu.Lock()
		r.pipelines++
		r.mu.Unlock()
		return next(ctx, cmds)
	}
}

func (r *roundTrips) counts() (single, pipelines int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.single, r.pipelines
}

func TestIdempotencyReleaseKeepsDone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newTestStore(t, Options{})
	const m = "m-sana"
	steps := []struct {
		name string
		do   func() (app.ClaimState, error)
		want app.ClaimState
	}{
		{"claim", func() (app.ClaimState, error) { return s.Claim(ctx, m, "woo:77", time.Minute) }, app.ClaimNew},
		{"claim again", func() (app.ClaimState, error) { return s.Claim(ctx, m, "woo:77", time.Minute) }, app.ClaimInProgress},
		{"release, claim", func() (app.ClaimState, error) {
			if err := s.Release(ctx, m, "woo:77"); err != nil {
				return 0, err
			}
			return s.Claim(ctx, m, "woo:77", time.Minute)
		}, app.ClaimNew},
		{"complete, release, claim", func() (app.ClaimState, error) {
			if err := s.Complete(ctx, m, "woo:77", time.Hour); err != nil {
				return 0, err
			}
			if err := s.Release(ctx, m, "woo:77"); err != nil {
				return 0, err
			}
			return s.Claim(ctx, m, "woo:77", time.Minute)
		}, app.ClaimDone},
		{"other merchant", func() (app.ClaimState, error) { return s.Claim(ctx, "m-other", "woo:77", time.Minute) }, app.ClaimNew},
	}
	for _, step := range steps {
		if got, err := step.do(); err != nil || got != step.want {
			t.Errorf("%s = %v, %v; want %v", step.name, got, err, step.want)
		}
	}
	var ve *app.ValidationError
	if _, err := s.Claim(ctx, m, "k", 0); !errors.As(err, &ve) {
		t.Errorf("Claim(ttl 0) = %v; want a ValidationError", err)
	}
}

// A day's stats hash gets its TTL on the first flush of it, not on every
// flush: a flush is HINCRBYs alone once the instance set the day's TTL.
func TestStatsExpireOncePerDay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, prefix := newTestStore(t, Options{})
	c := app.Counter{Merchant: "m-kiran", Day: "2025-03-01", Subject: app.EventOrderPlaced, Outcome: "sent"}
	key := s.keys.stats(c.Merchant, c.Day)
	if err := s.Incr(ctx, 1, c); err != nil {
		t.Fatal(err)
	}
	if ttl := s.rdb.TTL(ctx, key).Val(); ttl < statsTTL-time.Minute {
		t.Fatalf("TTL after the first flush = %v; want about %v", ttl, statsTTL)
	}
	s.rdb.Persist(ctx, key) // so a second EXPIRE would show
	if err := s.Incr(ctx, 1, c); err != nil {
		t.Fatal(err)
	}
	if ttl := s.rdb.TTL(ctx, key).Val(); ttl != -1 {
		t.Errorf("TTL after the second flush = %v; want none set again", ttl)
	}
	// Another instance sets it on its own first flush of the day.
	other := New(newClient(sharedAddr), Options{Prefix: prefix})
	defer other.Close()
	if err := other.Incr(ctx, 1, c); err != nil {
		t.Fatal(err)
	}
	if ttl := s.rdb.TTL(ctx, key).Val(); ttl < statsTTL-time.Minute {
		t.Errorf("TTL after another instance's flush = %v; want about %v", ttl, statsTTL)
	}
	if n := s.rdb.HGet(ctx, key, c.Subject+statsField+c.Outcome).Val(); n != "3" {
		t.Errorf("count = %s; want 3", n)
	}
}
