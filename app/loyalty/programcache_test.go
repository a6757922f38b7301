package loyalty_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/app/loyalty"
)

// programReads counts the reads of the stored program.
type programReads struct {
	app.Store
	n atomic.Int64
}

func (d *programReads) MapGet(ctx context.Context, merchant, name, field string) (string, error) {
	if name == "loyalty" {
		d.n.Add(1)
	}
	return d.Store.MapGet(ctx, merchant, name, field)
}

// The events an instance observes read the program once per 5 s, not once
// each; a program saved on that instance applies at once, one saved on
// another within the 5 s.
func TestProgramCachedForEvents(t *testing.T) {
	p := program()
	p.Enabled = false
	p.Actions = []loyalty.Action{{Name: "quiz", On: loyalty.OnCustom, Event: "quiz.completed", Points: 10}}
	h := newEngineHarness(t, p) // h.engine is the other instance
	reads := &programReads{Store: h.store}
	here := loyalty.NewEngine(loyalty.Options{Ledger: h.ledger, Data: reads, Queue: h.store, Merchants: oneMerchant{h.m}, Sender: h.sent, Now: h.clock.Now})
	quiz := func(id string) {
		t.Helper()
		if err := here.ObserveEvent(h.ctx, h.m, pushed("quiz.completed", id, "c1", h.clock.Now())); err != nil {
			t.Fatalf("ObserveEvent(%s) = %v", id, err)
		}
	}
	quiz("q1")
	quiz("q2")
	if n := reads.n.Load(); n != 1 {
		t.Errorf("two events read the program %d times; want once", n)
	}
	p.Enabled = true
	if _, err := h.engine.PutProgram(h.ctx, "m1", p); err != nil {
		t.Fatal(err)
	}
	quiz("q3") // saved elsewhere a moment ago: not seen yet
	h.clock.Advance(5 * time.Second)
	quiz("q4")
	if b := h.balanceOf("c1"); b != 10 {
		t.Errorf("balance = %d; want 10 (q4 alone, after the cache's 5 s)", b)
	}
	p.Enabled = false
	if _, err := here.PutProgram(h.ctx, "m1", p); err != nil {
		t.Fatal(err)
	}
	quiz("q5") // saved here: seen at once
	if b := h.balanceOf("c1"); b != 10 {
		t.Errorf("balance = %d after the program was switched off here; want 10", b)
	}
}
