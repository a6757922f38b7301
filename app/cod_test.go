package app_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app"
)

// codWrites records what the flow wrote back to the store.
type codWrites struct {
	mu     sync.Mutex
	writes []string
}

func (w *codWrites) WriteCOD(_ context.Context, m app.Merchant, orderID, action string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes = append(w.writes, orderID+":"+action)
	return nil
}

func (w *codWrites) list() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.writes...)
}

func newCODEnv(t *testing.T, settings map[string]string) (*deliveryEnv, *codWrites) {
	t.Helper()
	env := newDeliveryEnv(t, app.Rate{})
	writes := &codWrites{}
	env.svc.SetCODWriter(app.PlatformShopify, writes)
	ctx := context.Background()
	for event, in := range map[string]app.RuleInput{
		app.EventCODConfirmationAsked: {Template: "cod_confirm", Variables: []string{"customer.first_name", "order.number", "order.total"}},
		app.EventCODReminder:          {Template: "cod_reminder", Variables: []string{"order.number"}},
		app.EventCODConfirmed:         {Template: "cod_confirmed", Variables: []string{"order.number"}},
		app.EventCODCancelled:         {Template: "cod_cancelled", Variables: []string{"order.number"}},
		app.EventOrderCancelled:       {Template: "order_cancelled", Variables: []string{"order.number"}},
	} {
		if _, err := env.svc.PutRule(ctx, env.merchant.ID, event, in); err != nil {
			t.Fatal(err)
		}
	}
	if len(settings) > 0 {
		in := app.SettingsInput{}
		for k, v := range settings {
			v := v
			switch k {
			case "quiet_hours":
				in.QuietHours = &v
			}
		}
		if _, err := env.svc.UpdateSettings(ctx, env.merchant.ID, in); err != nil {
			t.Fatal(err)
		}
	}
	w := app.NewWorkers(env.store, app.WorkerOptions{Concurrency: 4, Lease: 2 * time.Second, PollInterval: 10 * time.Millisecond, Now: env.now.Now})
	// Both pools share the store: each must know every kind it may claim.
	w.HandleAll(env.svc.JobHandlers())
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = w.Run(runCtx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return env, writes
}

func codOrder(id string) app.Event {
	return app.Event{
		Type: app.EventCODConfirmationAsked, Subject: "order:" + id,
		Customer: app.Customer{FirstName: "Meera", Phone: "+919845012345"},
		Properties: map[string]any{
			"order": map[string]any{"number": "#" + id, "total": "₹1,697.00", "payment_method": "Cash on Delivery (COD)"},
		},
	}
}

func templatesSent(env *deliveryEnv) []string {
	_, sent := env.provider.state()
	out := make([]string, 0, len(sent))
	for _, m := range sent {
		out = append(out, m.Template)
	}
	return out
}

func reply(t *testing.T, env *deliveryEnv, r app.Reply) {
	t.Helper()
	if err := env.svc.ApplyProviderReport(context.Background(), env.merchant.ID, app.ProviderReport{Replies: []app.Reply{r}}); err != nil {
		t.Fatal(err)
	}
}

// waitForCODOutcomes waits until the statistics' COD outcomes are want:
// a decision the timeout makes is counted by a worker.
func waitForCODOutcomes(t *testing.T, env *deliveryEnv, want app.CODOutcomes) {
	t.Helper()
	var got app.CODOutcomes
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, err := env.svc.Stats(context.Background(), env.merchant.ID, "", "")
		if err != nil {
			t.Fatalf("Stats() = %v", err)
		}
		if got = v.Outcomes.COD; got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("COD outcomes = %+v; want %+v", got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCODConfirmByButton(t *testing.T) {
	env, writes := newCODEnv(t, nil)
	ctx := context.Background()
	if err := env.svc.ProcessEvents(ctx, env.merchant, []app.Event{codOrder("5001")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the confirmation request and the hold", func() bool {
		return fmt.Sprint(templatesSent(env)) == "[cod_confirm]" && fmt.Sprint(writes.list()) == "[5001:hold]"
	})
	_, sent := env.provider.state()
	if got := fmt.Sprint(sent[0].Buttons); got != "[{cod:confirm:5001 Confirm order} {cod:cancel:5001 Cancel order}]" {
		t.Errorf("buttons = %s; want Confirm and Cancel naming the order", got)
	}
	reply(t, env, app.Reply{Phone: "919845012345", ButtonID: "cod:confirm:5001"})
	reply(t, env, app.Reply{Phone: "919845012345", ButtonID: "cod:cancel:5001"}) // too late: decided
	waitFor(t, "the confirmation and its write-back", func() bool {
		return fmt.Sprint(templatesSent(env)) == "[cod_confirm cod_confirmed]" && fmt.Sprint(writes.list()) == "[5001:hold 5001:confirm]"
	})
	// Neither the reminder nor the timeout comes after a decision.
	env.jump(t, time.Now().Add(25*time.Hour))
	time.Sleep(200 * time.Millisecond)
	if got := fmt.Sprint(templatesSent(env)); got != "[cod_confirm cod_confirmed]" {
		t.Errorf("messages after the decision = %s; want no reminder", got)
	}
	if got := fmt.Sprint(writes.list()); got != "[5001:hold 5001:confirm]" {
		t.Errorf("write-backs = %s; want no timeout action", got)
	}
	// Only the first decision counts: not the late Cancel, not the timeout.
	waitForCODOutcomes(t, env, app.CODOutcomes{Asked: 1, Confirmed: 1})
}

func TestCODCancelByWordSilencesTheStoreEcho(t *testing.T) {
	env, writes := newCODEnv(t, nil)
	ctx := context.Background()
	if err := env.svc.ProcessEvents(ctx, env.merchant, []app.Event{codOrder("5002")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the request and the hold", func() bool {
		return len(templatesSent(env)) == 1 && fmt.Sprint(writes.list()) == "[5002:hold]"
	})
	reply(t, env, app.Reply{Phone: "+91 98450 12345", Text: "नहीं"})
	waitFor(t, "the cancellation", func() bool {
		return fmt.Sprint(templatesSent(env)) == "[cod_confirm cod_cancelled]" && fmt.Sprint(writes.list()) == "[5002:hold 5002:cancel]"
	})
	// Shopify echoes the cancellation as orders/cancelled: no second message.
	cancelled := codOrder("5002")
	cancelled.Type = app.EventOrderCancelled
	if err := env.svc.ProcessEvents(ctx, env.merchant, []app.Event{cancelled}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
	if got := fmt.Sprint(templatesSent(env)); got != "[cod_confirm cod_cancelled]" {
		t.Errorf("messages = %s; want no order_cancelled after the customer's own cancellation", got)
	}
	waitForCODOutcomes(t, env, app.CODOutcomes{Asked: 1, Cancelled: 1})
}

func TestCODReminderThenTimeout(t *testing.T) {
	env, writes := newCODEnv(t, map[string]string{"quiet_hours": "off"})
	ctx := context.Background()
	start := time.Now()
	if err := env.svc.ProcessEvents(ctx, env.merchant, []app.Event{codOrder("5003")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the request and the hold", func() bool {
		return len(templatesSent(env)) == 1 && fmt.Sprint(writes.list()) == "[5003:hold]"
	})
	env.jump(t, start.Add(2*time.Hour+time.Second))
	waitFor(t, "the reminder", func() bool { return fmt.Sprint(templatesSent(env)) == "[cod_confirm cod_reminder]" })
	_, sent := env.provider.state()
	if len(sent[1].Buttons) != 2 {
		t.Errorf("reminder buttons = %v; want Confirm and Cancel again", sent[1].Buttons)
	}
	env.jump(t, start.Add(24*time.Hour+time.Second))
	deadline := time.Now().Add(10 * time.Second)
	for fmt.Sprint(writes.list()) != "[5003:hold 5003:unconfirmed]" {
		if time.Now().After(deadline) {
			depth, _ := env.store.Depth(context.Background())
			dead, _ := env.store.DeadJobs(context.Background(), env.merchant.ID, 10)
			t.Fatalf("write-backs = %v, messages %v, queue %+v, dead %+v; want the timeout to mark the order", writes.list(), templatesSent(env), depth, dead)
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if got := fmt.Sprint(templatesSent(env)); got != "[cod_confirm cod_reminder]" {
		t.Errorf("messages after the timeout = %s; want none (the order is only marked)", got)
	}
	// A late "yes" changes nothing: the order was decided.
	reply(t, env, app.Reply{Phone: "+919845012345", Text: "Yes!"})
	time.Sleep(100 * time.Millisecond)
	if got := fmt.Sprint(writes.list()); got != "[5003:hold 5003:unconfirmed]" {
		t.Errorf("write-backs after a late reply = %s; want unchanged", got)
	}
	waitForCODOutcomes(t, env, app.CODOutcomes{Asked: 1, TimedOut: 1})
}

func TestCODNeedsItsRule(t *testing.T) {
	env := newDeliveryEnv(t, app.Rate{})
	writes := &codWrites{}
	env.svc.SetCODWriter(app.PlatformShopify, writes)
	if err := env.svc.ProcessEvents(context.Background(), env.merchant, []app.Event{codOrder("5004")}); err != nil {
		t.Fatal(err)
	}
	depth, err := env.store.Depth(context.Background())
	if err != nil || depth.Ready+depth.Scheduled != 0 {
		t.Errorf("queue after a COD order with no COD rule = %+v, %v; want no hold, reminder or timeout", depth, err)
	}
}

func TestCODReplyWords(t *testing.T) {
	for _, tc := range []struct {
		reply      app.Reply
		wantAction string
	}{
		{app.Reply{Text: "Yes!"}, "confirm"},
		{app.Reply{Text: " हाँ "}, "confirm"},
		{app.Reply{Text: "1"}, "confirm"},
		{app.Reply{Text: "NO."}, "cancel"},
		{app.Reply{Text: "नहीं"}, "cancel"},
		{app.Reply{Text: "ok thanks"}, ""},
		{app.Reply{Text: "ok"}, ""},
		{app.Reply{Text: "when will it arrive?"}, ""},
		{app.Reply{ButtonID: "cod:confirm:5001"}, "confirm"},
		{app.Reply{ButtonID: "cod:refund:5001"}, ""},
		{app.Reply{ButtonID: "optout"}, ""},
	} {
		env, writes := newCODEnv(t, nil)
		ctx := context.Background()
		if err := env.svc.ProcessEvents(ctx, env.merchant, []app.Event{codOrder("6001")}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the hold", func() bool { return fmt.Sprint(writes.list()) == "[6001:hold]" })
		r := tc.reply
		r.Phone = "+919845012345"
		if r.ButtonID != "" {
			r.ButtonID = strings.Replace(r.ButtonID, "5001", "6001", 1)
		}
		reply(t, env, r)
		want := "[6001:hold]"
		if tc.wantAction != "" {
			want = "[6001:hold 6001:" + tc.wantAction + "]"
			waitFor(t, "the decision for "+fmt.Sprint(tc.reply), func() bool { return fmt.Sprint(writes.list()) == want })
		} else {
			time.Sleep(50 * time.Millisecond)
		}
		if got := fmt.Sprint(writes.list()); got != want {
			t.Errorf("reply %+v: write-backs %s; want %s", tc.reply, got, want)
		}
	}
}

// A button names an order, but only that order's own customer decides it:
// a reply from another phone naming the order changes nothing.
func TestCODButtonFromAnotherPhoneDecidesNothing(t *testing.T) {
	env, writes := newCODEnv(t, nil)
	ctx := context.Background()
	if err := env.svc.ProcessEvents(ctx, env.merchant, []app.Event{codOrder("5006")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the request and the hold", func() bool {
		return len(templatesSent(env)) == 1 && fmt.Sprint(writes.list()) == "[5006:hold]"
	})
	reply(t, env, app.Reply{Phone: "+919999900000", ButtonID: "cod:cancel:5006"})
	time.Sleep(150 * time.Millisecond)
	if got := fmt.Sprint(writes.list()); got != "[5006:hold]" {
		t.Fatalf("write-backs after a stranger's Cancel = %s; want only the hold", got)
	}
	if got := fmt.Sprint(templatesSent(env)); got != "[cod_confirm]" {
		t.Fatalf("messages after a stranger's Cancel = %s; want none", got)
	}
	reply(t, env, app.Reply{Phone: "919845012345", ButtonID: "cod:confirm:5006"})
	waitFor(t, "the customer's own decision", func() bool {
		return fmt.Sprint(writes.list()) == "[5006:hold 5006:confirm]" && fmt.Sprint(templatesSent(env)) == "[cod_confirm cod_confirmed]"
	})
	waitForCODOutcomes(t, env, app.CODOutcomes{Asked: 1, Confirmed: 1})
}
