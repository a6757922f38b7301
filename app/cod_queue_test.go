package app_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app"
)

func codOrderOf(id, phone, name string) app.Event {
	e := codOrder(id)
	e.Customer = app.Customer{FirstName: name, Phone: phone}
	return e
}

func startCODOrders(t *testing.T, env *deliveryEnv, writes *codWrites, events ...app.Event) {
	t.Helper()
	if err := env.svc.ProcessEvents(context.Background(), env.merchant, events); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the holds", func() bool {
		held := map[string]bool{}
		for _, w := range writes.list() {
			held[w] = true
		}
		for _, e := range events {
			if !held[strings.TrimPrefix(e.Subject, "order:")+":hold"] {
				return false
			}
		}
		return true
	})
}

// conflict asserts err is the typed conflict of an order already decided.
func conflict(t *testing.T, err error, wantState, wantBy string) {
	t.Helper()
	var ce *app.CODConflictError
	if !errors.As(err, &ce) || !errors.Is(err, app.ErrConflict) || ce.State != wantState || ce.DecidedBy != wantBy {
		t.Fatalf("DecideCOD() on a decided order = %v (%+v); want a conflict: %s by %s", err, ce, wantState, wantBy)
	}
}

// The merchant's Confirm is the customer's "yes": written back once, the
// customer told, the reminders and the timeout stopped; the customer's
// later answer and a second decision change nothing.
func TestCODMerchantConfirms(t *testing.T) {
	env, writes := newCODEnv(t, map[string]string{"quiet_hours": "off"})
	ctx := context.Background()
	start := time.Now()
	startCODOrders(t, env, writes, codOrder("7001"))

	got, err := env.svc.DecideCOD(ctx, env.merchant.ID, "7001", app.CODConfirm)
	if err != nil {
		t.Fatalf("DecideCOD(confirm) = %v", err)
	}
	if got.State != app.CODConfirmed || got.DecidedBy != app.CODByMerchant || got.DecidedAt.IsZero() || got.Number != "#7001" {
		t.Errorf("DecideCOD(confirm) = %+v; want confirmed by the merchant", got)
	}
	waitFor(t, "the write-back and the customer told", func() bool {
		return fmt.Sprint(writes.list()) == "[7001:hold 7001:confirm]" && fmt.Sprint(templatesSent(env)) == "[cod_confirm cod_confirmed]"
	})
	waitFor(t, "the reminder and the timeout cancelled", func() bool {
		d, err := env.store.Depth(ctx)
		return err == nil && d.Scheduled == 0 && d.Ready == 0 && d.Running == 0
	})
	for _, key := range []string{"cod:7001:reminder-1", "cod:7001:timeout"} {
		if cancelled, err := env.store.Cancel(ctx, env.merchant.ID, key); err != nil || cancelled {
			t.Errorf("Cancel(%s) after the decision = %v, %v; want it gone already", key, cancelled, err)
		}
	}

	reply(t, env, app.Reply{Phone: "+919845012345", ButtonID: "cod:cancel:7001"})
	_, err = env.svc.DecideCOD(ctx, env.merchant.ID, "7001", app.CODCancel)
	conflict(t, err, app.CODConfirmed, app.CODByMerchant)
	env.jump(t, start.Add(25*time.Hour))
	time.Sleep(150 * time.Millisecond)
	if got := fmt.Sprint(writes.list()); got != "[7001:hold 7001:confirm]" {
		t.Errorf("write-backs = %s; want the merchant's confirm once, nothing after", got)
	}
	if got := fmt.Sprint(templatesSent(env)); got != "[cod_confirm cod_confirmed]" {
		t.Errorf("messages = %s; want no reminder and no cancellation", got)
	}
	if o, err := env.svc.CODOrder(ctx, env.merchant.ID, "7001"); err != nil || o.State != app.CODConfirmed || o.DecidedBy != app.CODByMerchant || o.Answer != "" {
		t.Errorf("CODOrder() = %+v, %v; want confirmed by the merchant, the late reply not its answer", o, err)
	}
	waitForCODOutcomes(t, env, app.CODOutcomes{Asked: 1, Confirmed: 1})
}

// The merchant's Cancel cancels once and silences the store's echo, as
// the customer's does.
func TestCODMerchantCancels(t *testing.T) {
	env, writes := newCODEnv(t, nil)
	ctx := context.Background()
	startCODOrders(t, env, writes, codOrder("7002"))
	if _, err := env.svc.DecideCOD(ctx, env.merchant.ID, "7002", app.CODCancel); err != nil {
		t.Fatalf("DecideCOD(cancel) = %v", err)
	}
	waitFor(t, "the cancellation", func() bool {
		return fmt.Sprint(writes.list()) == "[7002:hold 7002:cancel]" && fmt.Sprint(templatesSent(env)) == "[cod_confirm cod_cancelled]"
	})
	echo := codOrder("7002")
	echo.Type = app.EventOrderCancelled
	if err := env.svc.ProcessEvents(ctx, env.merchant, []app.Event{echo}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
	if got := fmt.Sprint(templatesSent(env)); got != "[cod_confirm cod_cancelled]" {
		t.Errorf("messages = %s; want no order_cancelled after the merchant's cancellation", got)
	}
	waitForCODOutcomes(t, env, app.CODOutcomes{Asked: 1, Cancelled: 1})
}

// Whoever comes first decides: after the customer's reply or the timeout,
// the merchant's button is a conflict that names the state.
func TestCODMerchantAfterCustomerOrTimeoutConflicts(t *testing.T) {
	env, writes := newCODEnv(t, map[string]string{"quiet_hours": "off"})
	ctx := context.Background()
	start := time.Now()
	startCODOrders(t, env, writes, codOrderOf("7003", "+919845012345", "Meera"), codOrderOf("7004", "+919811122233", "Kabir"))
	reply(t, env, app.Reply{Phone: "+919845012345", Text: "Haan"})
	waitFor(t, "the customer's confirmation", func() bool {
		o, err := env.svc.CODOrder(ctx, env.merchant.ID, "7003")
		return err == nil && o.State == app.CODConfirmed
	})
	_, err := env.svc.DecideCOD(ctx, env.merchant.ID, "7003", app.CODCancel)
	conflict(t, err, app.CODConfirmed, app.CODByCustomer)
	if o, _ := env.svc.CODOrder(ctx, env.merchant.ID, "7003"); o.Answer != "Haan" || o.AnsweredAt.IsZero() {
		t.Errorf("CODOrder(7003) = %+v; want the customer's answer kept", o)
	}

	env.jump(t, start.Add(24*time.Hour+time.Second))
	waitFor(t, "the timeout", func() bool {
		o, err := env.svc.CODOrder(ctx, env.merchant.ID, "7004")
		return err == nil && o.State == app.CODStateUnconfirmed
	})
	_, err = env.svc.DecideCOD(ctx, env.merchant.ID, "7004", app.CODConfirm)
	conflict(t, err, app.CODStateUnconfirmed, app.CODByTimeout)
	waitFor(t, "the write-backs", func() bool { return len(writes.list()) == 4 })
	time.Sleep(100 * time.Millisecond)
	got := map[string]bool{}
	for _, w := range writes.list() {
		got[w] = true
	}
	if len(got) != 4 || !got["7003:confirm"] || !got["7004:unconfirmed"] {
		t.Errorf("write-backs = %v; want each order's hold and its first decision only", writes.list())
	}
	waitForCODOutcomes(t, env, app.CODOutcomes{Asked: 2, Confirmed: 1, TimedOut: 1})
}

func TestCODOrdersQueue(t *testing.T) {
	env, writes := newCODEnv(t, map[string]string{"quiet_hours": "off"})
	ctx := context.Background()
	start := time.Now()
	startCODOrders(t, env, writes, codOrderOf("7101", "+919800000001", "Asha"))
	env.now.Set(start.Add(time.Minute))
	startCODOrders(t, env, writes, codOrderOf("7101", "+919800000001", "Asha"), codOrderOf("7102", "+919800000002", "Bela")) // 7101 again: a repeat
	env.now.Set(start.Add(2 * time.Minute))
	startCODOrders(t, env, writes, codOrderOf("7103", "+919800000003", "Chitra"))
	if _, err := env.svc.DecideCOD(ctx, env.merchant.ID, "7101", app.CODConfirm); err != nil {
		t.Fatal(err)
	}
	reply(t, env, app.Reply{Phone: "+919800000002", Text: "Can it come on Friday?"})
	env.jump(t, start.Add(2*time.Hour+3*time.Minute))
	waitFor(t, "the reminders", func() bool {
		list, err := env.svc.CODOrders(ctx, env.merchant.ID, app.CODOrderFilter{State: app.CODPending})
		return err == nil && len(list) == 2 && list[0].Reminders == 1 && list[1].Reminders == 1
	})

	ids := func(f app.CODOrderFilter) string {
		t.Helper()
		list, err := env.svc.CODOrders(ctx, env.merchant.ID, f)
		if err != nil {
			t.Fatalf("CODOrders(%+v) = %v", f, err)
		}
		var out []string
		for _, o := range list {
			out = append(out, o.ID+":"+o.State)
		}
		return fmt.Sprint(out)
	}
	for _, tc := range []struct {
		filter app.CODOrderFilter
		want   string
	}{
		{app.CODOrderFilter{}, "[7103:pending 7102:pending 7101:confirmed]"},
		{app.CODOrderFilter{State: app.CODPending}, "[7103:pending 7102:pending]"},
		{app.CODOrderFilter{State: app.CODConfirmed}, "[7101:confirmed]"},
		{app.CODOrderFilter{State: app.CODCancelled}, "[]"},
		{app.CODOrderFilter{Limit: 1}, "[7103:pending]"},
		{app.CODOrderFilter{Limit: 3}, "[7103:pending 7102:pending 7101:confirmed]"},
	} {
		if got := ids(tc.filter); got != tc.want {
			t.Errorf("CODOrders(%+v) = %s; want %s", tc.filter, got, tc.want)
		}
	}
	list, _ := env.svc.CODOrders(ctx, env.merchant.ID, app.CODOrderFilter{})
	bela := list[1]
	if bela.FirstName != "Bela" || bela.Phone != "+91******0002" || bela.Total != "₹1,697.00" || bela.Number != "#7102" ||
		bela.Answer != "Can it come on Friday?" || bela.DecidedBy != "" || bela.RequestedAt.Before(start.Add(time.Minute)) || bela.RequestedAt.After(start.Add(2*time.Minute)) {
		t.Errorf("a waiting order = %+v; want its customer, masked phone, total and their question", bela)
	}
	if list[0].Answer != "" {
		t.Errorf("an order nobody answered shows answer %q", list[0].Answer)
	}
	if list[2].DecidedBy != app.CODByMerchant || list[2].Reminders != 0 {
		t.Errorf("the decided order = %+v; want decided by the merchant before any reminder", list[2])
	}

	for _, f := range []app.CODOrderFilter{{State: "awaiting"}, {Limit: -1}, {Limit: 201}} {
		var ve *app.ValidationError
		if _, err := env.svc.CODOrders(ctx, env.merchant.ID, f); !errors.As(err, &ve) {
			t.Errorf("CODOrders(%+v) = %v; want a validation error", f, err)
		}
	}
	var ve *app.ValidationError
	if _, err := env.svc.DecideCOD(ctx, env.merchant.ID, "7102", "refund"); !errors.As(err, &ve) || ve.Fields["decision"] == "" {
		t.Errorf("DecideCOD(refund) = %v; want the decision field refused", err)
	}
	if _, err := env.svc.DecideCOD(ctx, env.merchant.ID, "9999", app.CODConfirm); !errors.Is(err, app.ErrNotFound) {
		t.Errorf("DecideCOD(unknown order) = %v; want ErrNotFound", err)
	}
}

// An order of another merchant is not found, and stays as it was.
func TestCODDecisionStaysWithItsMerchant(t *testing.T) {
	env, writes := newCODEnv(t, nil)
	ctx := context.Background()
	other, _, err := env.svc.CreateMerchant(ctx, app.NewMerchant{Platform: app.PlatformShopify, Domain: "other-shop.myshopify.com", Name: "Other", Country: "IN", Timezone: "Asia/Kolkata"})
	if err != nil {
		t.Fatal(err)
	}
	if other, err = env.svc.SetProvider(ctx, other.ID, app.ProviderInput{Provider: "scripted", Credentials: map[string]string{"token": "t0k3n"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.svc.PutRule(ctx, other.ID, app.EventCODConfirmationAsked, app.RuleInput{Template: "cod_confirm", Variables: []string{"order.number"}}); err != nil {
		t.Fatal(err)
	}
	if err := env.svc.ProcessEvents(ctx, other, []app.Event{codOrder("8001")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the other shop's hold", func() bool { return fmt.Sprint(writes.list()) == "[8001:hold]" })
	if _, err := env.svc.DecideCOD(ctx, env.merchant.ID, "8001", app.CODCancel); !errors.Is(err, app.ErrNotFound) {
		t.Fatalf("DecideCOD(another merchant's order) = %v; want ErrNotFound", err)
	}
	if _, err := env.svc.CODOrder(ctx, env.merchant.ID, "8001"); !errors.Is(err, app.ErrNotFound) {
		t.Fatalf("CODOrder(another merchant's order) = %v; want ErrNotFound", err)
	}
	if list, err := env.svc.CODOrders(ctx, env.merchant.ID, app.CODOrderFilter{}); err != nil || len(list) != 0 {
		t.Fatalf("CODOrders() = %+v, %v; want none of the other shop's", list, err)
	}
	if o, err := env.svc.CODOrder(ctx, other.ID, "8001"); err != nil || o.State != app.CODPending {
		t.Fatalf("the other shop's order = %+v, %v; want still pending", o, err)
	}
	time.Sleep(100 * time.Millisecond)
	if got := fmt.Sprint(writes.list()); got != "[8001:hold]" {
		t.Fatalf("write-backs = %s; want only the other shop's hold", got)
	}
}

// The customer's tap and the merchant's button at the same moment: one of
// them decides each order, the store hears that one once, and the merchant
// is told when the customer came first.
func TestCODCustomerAndMerchantRace(t *testing.T) {
	env, writes := newCODEnv(t, nil)
	ctx := context.Background()
	const n = 12
	var events []app.Event
	for i := range n {
		events = append(events, codOrderOf(fmt.Sprint(7200+i), fmt.Sprintf("+9198000002%02d", i), "Asha"))
	}
	startCODOrders(t, env, writes, events...)
	merchantWon := make([]bool, n)
	var wg sync.WaitGroup
	for i := range n {
		id := fmt.Sprint(7200 + i)
		wg.Add(2)
		go func() {
			defer wg.Done()
			tap := app.Reply{Phone: fmt.Sprintf("+9198000002%02d", i), ButtonID: "cod:confirm:" + id}
			if err := env.svc.ApplyProviderReport(ctx, env.merchant.ID, app.ProviderReport{Replies: []app.Reply{tap}}); err != nil {
				t.Errorf("the customer's tap on %s = %v", id, err)
			}
		}()
		go func() {
			defer wg.Done()
			_, err := env.svc.DecideCOD(ctx, env.merchant.ID, id, app.CODCancel)
			var ce *app.CODConflictError
			switch {
			case err == nil:
				merchantWon[i] = true
			case errors.As(err, &ce) && ce.State == app.CODConfirmed && ce.DecidedBy == app.CODByCustomer:
			default:
				t.Errorf("DecideCOD(%s) = %v; want it decided, or the customer's confirmation as a conflict", id, err)
			}
		}()
	}
	wg.Wait()
	waitFor(t, "every decision written back", func() bool { return len(writes.list()) == 2*n })
	time.Sleep(150 * time.Millisecond)
	decisions := map[string][]string{}
	for _, w := range writes.list() {
		id, action, _ := strings.Cut(w, ":")
		if action != app.CODHold {
			decisions[id] = append(decisions[id], action)
		}
	}
	confirmed, cancelled := 0, 0
	for i := range n {
		id := fmt.Sprint(7200 + i)
		o, err := env.svc.CODOrder(ctx, env.merchant.ID, id)
		want := []string{app.CODConfirm}
		if merchantWon[i] {
			want = []string{app.CODCancel}
			cancelled++
		} else {
			confirmed++
		}
		if err != nil || fmt.Sprint(decisions[id]) != fmt.Sprint(want) || o.State != codStateWord(want[0]) {
			t.Errorf("order %s: written back %v, state %+v, %v; want only %v", id, decisions[id], o, err, want)
		}
	}
	t.Logf("the merchant came first on %d orders of %d", cancelled, n)
	waitForCODOutcomes(t, env, app.CODOutcomes{Asked: n, Confirmed: int64(confirmed), Cancelled: int64(cancelled)})
}

func codStateWord(action string) string {
	if action == app.CODConfirm {
		return app.CODConfirmed
	}
	return app.CODCancelled
}

// A reminder is counted when one goes out: with its rule off, none does.
func TestCODRemindersCountOnlyWhatIsSent(t *testing.T) {
	env, writes := newCODEnv(t, map[string]string{"quiet_hours": "off"})
	ctx := context.Background()
	off := false
	if _, err := env.svc.PutRule(ctx, env.merchant.ID, app.EventCODReminder, app.RuleInput{Enabled: &off, Template: "cod_reminder", Variables: []string{"order.number"}}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	startCODOrders(t, env, writes, codOrder("7301"))
	env.jump(t, start.Add(2*time.Hour+time.Second))
	waitFor(t, "the reminder's job done, the timeout left", func() bool {
		d, err := env.store.Depth(ctx)
		return err == nil && d.Ready == 0 && d.Running == 0 && d.Scheduled == 1
	})
	if o, err := env.svc.CODOrder(ctx, env.merchant.ID, "7301"); err != nil || o.Reminders != 0 || o.State != app.CODPending {
		t.Errorf("CODOrder() with the reminder off = %+v, %v; want pending, no reminder counted", o, err)
	}
	if got := fmt.Sprint(templatesSent(env)); got != "[cod_confirm]" {
		t.Errorf("messages = %s; want no reminder", got)
	}
}
