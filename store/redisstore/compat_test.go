package redisstore

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/storebridge/storebridge/app"
)

// mainJobRecord is jobRecord as main's code (commit 6ea8ae9) decodes it:
// the payload, when in the record, is base64.
type mainJobRecord struct {
	ID      string `json:"id"`
	Payload []byte `json:"payload,omitempty"`
	Attempt int    `json:"attempt"`
	Lease   string `json:"lease"`
}

func mainScript(t *testing.T, name string) *redis.Script {
	t.Helper()
	src, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return redis.NewScript(string(src))
}

// In a rolling deploy (or after a rollback) main's code runs beside this
// one on the same queue: its claim and ack scripts must lease and settle
// the jobs this code writes, and this code must claim and settle what
// main's scripts rewrote. A claim script that fails to decode a job has
// already taken the batch off the due set: the batch would be lost.
func TestJobsReadByMainsScripts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newClock()
	s, _ := newTestStore(t, clocked(clock))
	const merchant = "m-compat"
	q := s.keys.queue(merchant)
	// Bytes whose base64 has '/' and '+', which cjson.encode writes as
	// "\/" and "+".
	body := append([]byte(`{"order":1,"bin":"`), 0xff, 0xff, 0xff, 0xfb, 0xef, 0xbe, '"', '}')
	job := func(id string) app.Job {
		return app.Job{ID: id, Merchant: merchant, Kind: "shopify.webhook", Payload: body, MaxAttempts: 5}
	}

	// This code's webhook path leases one job, and queues another.
	st, held, err := s.ClaimAndLease(ctx, "shopify:e1:orders/create", time.Hour, job("hooked"), time.Minute)
	if err != nil || st != app.ClaimNew {
		t.Fatalf("ClaimAndLease() = %v, %v; want new", st, err)
	}
	mustEnqueue(t, s, job("queued"))
	b64 := base64.StdEncoding.EncodeToString(body)
	if field := s.rdb.HGet(ctx, q.jobs, held.ID).Val(); !strings.HasSuffix(field, `,"payload":"`+b64+`"}`) {
		t.Errorf("stored job = %q; want the payload in base64 as its record's last field", field)
	}

	// main's claim, once the lease ran out: it takes both.
	clock.Advance(2 * time.Minute)
	res, err := mainScript(t, "main_claim.lua").Run(ctx, s.rdb, []string{q.due, q.lease, q.jobs, q.payload},
		s.offsetMS(), time.Minute.Milliseconds(), 10, "old", "").Slice()
	if err != nil {
		t.Fatalf("main's claim = %v (jobs due or leased now: %d of 2); want both leased",
			err, s.rdb.ZCard(ctx, q.due).Val()+s.rdb.ZCard(ctx, q.lease).Val())
	}
	leased := map[string]mainJobRecord{}
	for i := 2; i+1 < len(res); i += 2 {
		raw, _ := res[i].(string)
		var r mainJobRecord
		if err := json.Unmarshal([]byte(raw), &r); err != nil {
			t.Fatalf("main's decode of %q: %v", raw, err)
		}
		if p, ok := res[i+1].(string); ok {
			r.Payload = []byte(p)
		}
		leased[r.ID] = r
	}
	if len(leased) != 2 || !bytes.Equal(leased["hooked"].Payload, body) || !bytes.Equal(leased["queued"].Payload, body) ||
		leased["hooked"].Attempt != 2 || leased["queued"].Attempt != 1 {
		t.Fatalf("main's claim leased %+v; want hooked at attempt 2 and queued at 1, with their payloads", leased)
	}
	if field := s.rdb.HGet(ctx, q.jobs, "queued").Val(); !strings.Contains(field, `\/`) {
		t.Fatalf("job as main's claim rewrote it = %q; want cjson's \\/ escapes in its payload", field)
	}
	ack := mainScript(t, "main_ack.lua")
	if n, err := ack.Run(ctx, s.rdb, []string{q.lease, q.jobs, q.keys, q.payload}, "hooked", leased["hooked"].Lease, s.offsetMS()).Slice(); err != nil || n[0] != int64(1) {
		t.Fatalf("main's ack = %v, %v; want settled", n, err)
	}
	if s.rdb.HExists(ctx, q.jobs, "hooked").Val() {
		t.Error("main's ack left the job")
	}

	// Records main's scripts re-encoded put the payload anywhere, escaped:
	// first, in the middle, and (the one main's claim left) wherever
	// cjson did.
	escaped := strings.ReplaceAll(b64, "/", `\/`)
	due := msOf(clock.Now())
	for id, rec := range map[string]string{
		"first":  `{"payload":"` + escaped + `","id":"first","merchant":"` + merchant + `","kind":"k","key":"","attempt":0,"max_attempts":5,"due_at":"2026-01-01T00:00:00Z","created_at":"2026-01-01T00:00:00Z","last_error":"","lease":""}`,
		"middle": `{"id":"middle","merchant":"` + merchant + `","kind":"k","key":"","attempt":0,"payload":"` + escaped + `","max_attempts":5,"due_at":"2026-01-01T00:00:00Z","created_at":"2026-01-01T00:00:00Z","last_error":"","lease":""}`,
	} {
		s.rdb.HSet(ctx, q.jobs, id, rec)
		s.rdb.ZAdd(ctx, q.due, redis.Z{Score: float64(due), Member: id})
	}
	clock.Advance(2 * time.Minute)
	_, jobs := claimIDs(t, s, time.Minute, 10)
	want := map[string]int{"queued": 2, "first": 1, "middle": 1}
	if len(jobs) != len(want) {
		t.Fatalf("claimed %d jobs (%+v); want %d", len(jobs), jobs, len(want))
	}
	// A retry writes each back, then they are claimed and settled.
	for _, j := range jobs {
		if !bytes.Equal(j.Payload, body) || j.Attempt != want[j.ID] {
			t.Errorf("claimed %s at attempt %d with payload %q; want attempt %d with %q", j.ID, j.Attempt, j.Payload, want[j.ID], body)
		}
		if err := s.Retry(ctx, j, clock.Now(), "again"); err != nil {
			t.Fatalf("Retry(%s) = %v", j.ID, err)
		}
	}
	_, jobs = claimIDs(t, s, time.Minute, 10)
	if len(jobs) != len(want) {
		t.Fatalf("claimed again %d jobs; want %d", len(jobs), len(want))
	}
	for _, j := range jobs {
		if !bytes.Equal(j.Payload, body) || j.Attempt != want[j.ID]+1 {
			t.Errorf("claimed again %s at attempt %d with payload %q; want attempt %d with %q", j.ID, j.Attempt, j.Payload, want[j.ID]+1, body)
		}
		if err := s.Ack(ctx, j); err != nil {
			t.Fatalf("Ack(%s) = %v", j.ID, err)
		}
	}
	if n := s.rdb.Exists(ctx, q.jobs, q.payload, q.due, q.lease).Val(); n != 0 {
		t.Errorf("EXISTS jobs payload due lease after acking all = %d; want 0", n)
	}
}
