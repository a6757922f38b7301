package handlers

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/app/loyalty"
)

// pageDiscounts is the store's discount codes as the loyalty page's
// engine makes them: a code per source, held once however often it is
// asked for (as app.DiscountCreator promises), and failures to answer
// the next creates with.
type pageDiscounts struct {
	mu       sync.Mutex
	held     map[string]app.DiscountRequest
	creates  int
	failures []error
}

func (d *pageDiscounts) CodeFor(m app.Merchant, prefix, source string) string {
	var h uint32 = 2166136261
	for _, b := range []byte(m.ID + "|" + source) {
		h = (h ^ uint32(b)) * 16777619
	}
	return fmt.Sprintf("%s-%08X", prefix, h)
}

func (d *pageDiscounts) CreateDiscount(_ context.Context, _ app.Merchant, r app.DiscountRequest) (app.DiscountCode, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.creates++
	if len(d.failures) > 0 {
		err := d.failures[0]
		d.failures = d.failures[1:]
		return app.DiscountCode{}, err
	}
	if d.held == nil {
		d.held = map[string]app.DiscountRequest{}
	}
	d.held[r.Code] = r
	return app.DiscountCode{Code: r.Code, Kind: r.Kind, Value: r.Value, Currency: r.Currency, EndsAt: r.EndsAt}, nil
}

func (d *pageDiscounts) state() (held, creates int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.held), d.creates
}

func (d *pageDiscounts) failNext(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.failures = append(d.failures, err)
}

// programPost is the program form as the page posts it, with every
// section filled: one action and one milestone, a blank row after each.
func programPost(csrf string) url.Values {
	return url.Values{
		"csrf": {csrf}, "enabled": {"on"}, "points_per_unit": {"1"}, "earn_on": {"paid"},
		"approve_after": {"0s"}, "expiry": {"365d"}, "expiry_reminders": {"30d"},
		"tier_name": {""}, "tier_threshold": {""}, "tier_basis": {"points"}, "tier_period": {"lifetime"}, "tier_multiplier": {"1"},
		"redeem.enabled": {"on"}, "redeem.points_per_unit": {"50"}, "redeem.min_points": {"200"}, "redeem.max_points": {"5000"},
		"redeem.expires_in": {"60d"}, "redeem.minimum_subtotal": {"299.00"},
		"referral.enabled": {"on"}, "referral.referrer_points": {"300"}, "referral.friend.kind": {"fixed_amount"},
		"referral.friend.value": {"150"}, "referral.friend.valid_days": {"14"}, "referral.friend.minimum_subtotal": {"999"},
		"review_request.enabled": {"on"}, "review_request.after": {"5d"}, "review_request.reminders": {"1"},
		"review_request.every": {"7d"}, "review_request.url": {"https://kesar.example.in/review/{order_number}"},
		"action_name": {"signup-bonus", ""}, "action_on": {"signup", "signup"}, "action_event": {"", ""},
		"action_points": {"100", ""}, "action_limit": {"0", ""}, "action_per": {"lifetime", "lifetime"},
		"milestone_name": {"Tenth order", ""}, "milestone_orders": {"10", ""}, "milestone_spend": {"", ""},
	}
}

// The loyalty page's sections through the router: redemption, referrals,
// review requests, actions and milestones save from the form; a bad value
// in each comes back at its own field (a row's at its form row) with what
// was typed kept and nothing saved; rows are added and removed without
// JS.
func TestLoyaltyPageSections(t *testing.T) {
	e, svc, engine := loyaltyPagesServer(t, &pageDiscounts{})
	m := newMerchant(t, svc, app.NewMerchant{Platform: app.PlatformShopify, Domain: "kesar-kitchen.myshopify.com", Name: "Kesar Kitchen", Country: "IN"})
	b := signedIn(t, e, svc, m.ID)
	ctx := context.Background()

	page := b.get("/admin/loyalty").Body.String()
	for _, want := range []string{
		`<h2 id="redeem">Redemption</h2>`, `name="redeem.points_per_unit" value="100"`, `name="redeem.expires_in" value="30d"`,
		`<h2 id="referral">Referrals</h2>`, `name="referral.friend.value" value="10"`, `<option value="percentage" selected>`,
		`<h2 id="review">Review requests</h2>`, `name="review_request.after" value="7d"`, `name="review_request.reminders" value="2"`,
		`<h2 id="actions">Points for actions</h2>`, `id="action-name-0" name="action_name" value=""`,
		`<h2 id="milestones">Milestones</h2>`, `id="milestone-name-0" name="milestone_name" value=""`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page with the default program lacks %q", want)
		}
	}
	csrf := b.csrf("/admin/loyalty")

	saved := b.post("/admin/loyalty", programPost(csrf))
	if saved.Code != 303 {
		t.Fatalf("save every section = %d; want 303:\n%s", saved.Code, saved.Body)
	}
	p, err := engine.Program(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r := p.Redeem; !r.Enabled || r.PointsPerUnit != 50 || r.MinPoints != 200 || r.MaxPoints != 5000 || r.ExpiresIn != "60d" || r.MinimumSubtotal != "299.00" {
		t.Errorf("saved redemption = %+v", r)
	}
	if r := p.Referral; !r.Enabled || r.ReferrerPoints != 300 || r.Friend != (loyalty.FriendDiscount{Kind: "fixed_amount", Value: "150", ValidDays: 14, MinimumSubtotal: "999"}) {
		t.Errorf("saved referral = %+v", r)
	}
	if r := p.ReviewRequest; !r.Enabled || r.After != "5d" || r.Reminders != 1 || r.Every != "7d" || r.URL != "https://kesar.example.in/review/{order_number}" {
		t.Errorf("saved review requests = %+v", r)
	}
	if fmt.Sprint(p.Actions) != "[{signup-bonus signup  100 0 lifetime}]" || fmt.Sprint(p.Milestones) != "[{Tenth order 10 0}]" {
		t.Errorf("saved actions %+v and milestones %+v; want the filled rows only", p.Actions, p.Milestones)
	}
	again := b.get("/admin/loyalty").Body.String()
	for _, want := range []string{
		`name="redeem.minimum_subtotal" value="299.00"`, `name="referral.friend.valid_days" value="14"`, `<option value="fixed_amount" selected>`,
		`id="action-name-0" name="action_name" value="signup-bonus"`, `id="action-points-0" name="action_points" value="100"`, `id="action-name-1" name="action_name" value=""`,
		`id="milestone-name-0" name="milestone_name" value="Tenth order"`, `id="milestone-orders-0" name="milestone_orders" value="10"`,
		`name="action_remove" value="0"`, `name="milestone_remove" value="0"`,
	} {
		if !strings.Contains(again, want) {
			t.Errorf("the page after saving lacks %q", want)
		}
	}

	// Bad values, one section at a time: each refused at its field, the
	// typed value kept, nothing saved.
	cases := []struct {
		name, field, id, want string
		set                   map[string][]string
	}{
		{"redemption rate", "redeem.points_per_unit", "redeem-points_per_unit", "must be a whole number",
			map[string][]string{"redeem.points_per_unit": {"lots"}}},
		{"redemption bounds", "redeem.max_points", "redeem-max_points", "at least min_points",
			map[string][]string{"redeem.max_points": {"100"}}},
		{"code expiry", "redeem.expires_in", "redeem-expires_in", "must be", map[string][]string{"redeem.expires_in": {"soon"}}},
		{"friend's value", "referral.friend.value", "referral-friend-value", "must be a positive decimal",
			map[string][]string{"referral.friend.value": {"0"}}},
		{"friend's days", "referral.friend.valid_days", "referral-friend-valid_days", "must be 1 to 366",
			map[string][]string{"referral.friend.valid_days": {"400"}}},
		{"review reminders", "review_request.reminders", "review_request-reminders", "must be 0 to 2",
			map[string][]string{"review_request.reminders": {"5"}}},
		{"review page", "review_request.url", "review_request-url", "must be an http(s) URL",
			map[string][]string{"review_request.url": {"kesar.example.in/review"}}},
		// The action's row is the second of the form: a blank first row
		// is no action, so the API's actions[0] is the form's row 1.
		{"action's event", "actions[1].event", "action-event-1", "must be a dotted event name",
			map[string][]string{"action_name": {"", "quiz"}, "action_on": {"signup", "custom"}, "action_event": {"", "Quiz Done"},
				"action_points": {"", "20"}, "action_limit": {"", "1"}, "action_per": {"lifetime", "day"}}},
		// A select holds only its options: a posted "sometimes" is
		// refused at the select, which cannot show it.
		{"action's kind", "actions[0].on", "action-on-0", "must be &#34;signup&#34;",
			map[string][]string{"action_on": {"sometimes", "signup"}}},
		{"action's points", "actions[0].points", "action-points-0", "must be a whole number",
			map[string][]string{"action_points": {"ten", ""}}},
		{"milestone's spend", "milestones[1].spend", "milestone-spend-1", "must be positive",
			map[string][]string{"milestone_name": {"", "Big spender"}, "milestone_orders": {"", ""}, "milestone_spend": {"", "-5"}}},
		{"milestone's orders", "milestones[0].orders", "milestone-orders-0", "must be a whole number",
			map[string][]string{"milestone_orders": {"many", ""}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			form := programPost(csrf)
			for k, v := range tc.set {
				form[k] = v
			}
			rec := b.post("/admin/loyalty", form)
			body := rec.Body.String()
			if rec.Code != 422 {
				t.Fatalf("POST = %d; want 422", rec.Code)
			}
			// The input (or select) carries aria-invalid, and its reason
			// follows it before the next field's label.
			input := regexp.MustCompile(`<(?:input|select)[^>]*id="` + regexp.QuoteMeta(tc.id) + `"[^>]*>`).FindString(body)
			if !strings.Contains(input, `aria-invalid="true"`) {
				t.Errorf("field %s (%s) = %q; want aria-invalid", tc.id, tc.field, input)
			}
			at := strings.Index(body, input)
			rest := body[at+len(input):]
			if next := strings.Index(rest, "<label"); next >= 0 {
				rest = rest[:next]
			}
			if !strings.Contains(rest, `class="field-error"`) || !strings.Contains(rest, tc.want) {
				t.Errorf("the reason after %s = %q; want %q", tc.id, rest, tc.want)
			}
			for k, v := range tc.set {
				for _, typed := range v {
					if typed != "" && typed != "sometimes" && !strings.Contains(body, `value="`+typed+`"`) && !strings.Contains(body, `<option value="`+typed+`"`) {
						t.Errorf("the typed %s %q is not kept", k, typed)
					}
				}
			}
			if now, _ := engine.Program(ctx, m.ID); fmt.Sprint(now) != fmt.Sprint(p) {
				t.Errorf("a refused program changed the saved one: %+v", now)
			}
		})
	}

	// Rows: add one without saving, then remove the action and the
	// milestone by saving with their Remove ticked.
	for _, add := range []struct{ action, name string }{{"add-action", "action_name"}, {"add-milestone", "milestone_name"}} {
		rec := b.post("/admin/loyalty", withValues(programPost(csrf), "action", add.action))
		if n := strings.Count(rec.Body.String(), `name="`+add.name+`"`); rec.Code != 200 || n != 3 {
			t.Errorf("%s = %d with %d rows; want 200 with 3", add.action, rec.Code, n)
		}
	}
	if now, _ := engine.Program(ctx, m.ID); fmt.Sprint(now) != fmt.Sprint(p) {
		t.Errorf("adding a row saved the program: %+v", now)
	}
	removed := withValues(programPost(csrf), "action_remove", "0", "milestone_remove", "0")
	if rec := b.post("/admin/loyalty", removed); rec.Code != 303 {
		t.Fatalf("remove rows = %d:\n%s", rec.Code, rec.Body)
	}
	if now, _ := engine.Program(ctx, m.ID); len(now.Actions) != 0 || len(now.Milestones) != 0 || !now.Redeem.Enabled {
		t.Errorf("after removing: actions %+v, milestones %+v; want none, the rest kept", now.Actions, now.Milestones)
	}
}

var redeemKeyField = regexp.MustCompile(`id="redeem-form">\s*(?:<input type="hidden" name="csrf" value="[^"]*">)?\s*<input type="hidden" name="customer" value="[^"]*">\s*<input type="hidden" name="key" value="([^"]+)">`)

// Redeeming from the customer's view through the router: the customer's
// referral code shows; a redemption answers its code and value in a
// notice; too few points is 422 at the field; a store that does not
// answer is 503 with the same key in the form, and submitting it again
// makes the one code; a refused code is 502 and the points come back.
func TestLoyaltyPageRedeem(t *testing.T) {
	codes := &pageDiscounts{}
	e, svc, engine := loyaltyPagesServer(t, codes)
	m := newMerchant(t, svc, app.NewMerchant{Platform: app.PlatformShopify, Domain: "kesar-kitchen.myshopify.com", Name: "Kesar Kitchen", Country: "IN"})
	b := signedIn(t, e, svc, m.ID)
	ctx := context.Background()
	csrf := b.csrf("/admin/loyalty")
	if rec := b.post("/admin/loyalty", programPost(csrf)); rec.Code != 303 {
		t.Fatalf("save the program = %d", rec.Code)
	}
	if _, err := engine.Adjust(ctx, m.ID, "7712398123", loyalty.Adjustment{Points: 1000, Reason: "welcome", Key: "w"}); err != nil {
		t.Fatal(err)
	}
	view := b.get("/admin/loyalty?by=id&customer=7712398123").Body.String()
	ref := regexp.MustCompile(`id="referral-code">(REF-[0-9A-F]+)<`).FindStringSubmatch(view)
	key := redeemKeyField.FindStringSubmatch(view)
	if ref == nil || key == nil || !strings.Contains(view, "50 points make one unit of currency; at least 200, at most 5000") {
		t.Fatalf("the customer's view lacks the referral code, the redeem form's key or its hint:\n%s", view)
	}
	redeem := func(points, key string) (int, string) {
		rec := b.post("/admin/loyalty/redeem", url.Values{"csrf": {csrf}, "customer": {"7712398123"}, "points": {points}, "key": {key}})
		return rec.Code, rec.Body.String()
	}

	status, body := redeem("500", key[1])
	code := regexp.MustCompile(`id="redeemed-code">(SB-[0-9A-F]+)<`).FindStringSubmatch(body)
	if status != 200 || code == nil || !strings.Contains(body, `id="redeemed-value">10.00<`) || !strings.Contains(body, `id="balance">500<`) {
		t.Fatalf("redeem 500 = %d; want the code worth 10.00 and a balance of 500:\n%s", status, body)
	}
	if next := redeemKeyField.FindStringSubmatch(body); next == nil || next[1] == key[1] || strings.Contains(body, `id="redeem-points" name="points" value="500"`) {
		t.Errorf("after a redemption the form = %v; want a new key and no points", next)
	}
	if held, _ := codes.state(); held != 1 {
		t.Errorf("the store holds %d codes; want 1", held)
	}
	// The same form again (a double submit): the same code, nothing more spent.
	if status, again := redeem("500", key[1]); status != 200 || !strings.Contains(again, code[1]) || !strings.Contains(again, `id="balance">500<`) {
		t.Errorf("the same form again = %d; want the same code and balance", status)
	}

	// Too few points: 422 at the field, typed value and key kept.
	status, body = redeem("900", "k-low")
	if status != 422 || !strings.Contains(body, "insufficient points") || !strings.Contains(body, `id="redeem-points" name="points" value="900"`) ||
		!strings.Contains(body, `name="key" value="k-low"`) || !strings.Contains(body, `id="redeem-points" name="points" value="900" aria-describedby="redeem-hint" aria-invalid="true"`) {
		t.Errorf("redeem above the balance = %d; want 422 at the field with the values kept:\n%s", status, body)
	}
	if status, body := redeem("lots", "k-x"); status != 422 || !strings.Contains(body, "must be a whole number of points") {
		t.Errorf("redeem lots = %d; want 422", status)
	}

	// The store does not answer: 503, the key kept; submitting again makes one code.
	codes.failNext(&app.ProviderError{Provider: "shopify", Status: 503, Retryable: true})
	status, body = redeem("300", "k-retry")
	if status != 503 || !strings.Contains(body, "The store did not answer") || !strings.Contains(body, "same key") ||
		!strings.Contains(body, `name="key" value="k-retry"`) || !strings.Contains(body, `value="300"`) {
		t.Fatalf("redeem with the store down = %d; want 503 keeping the key and points:\n%s", status, body)
	}
	if !strings.Contains(body, `id="balance">200<`) {
		t.Errorf("while the store is down the points should be held (balance 200)")
	}
	status, body = redeem("300", "k-retry")
	if status != 200 || !strings.Contains(body, `id="redeemed-value">6.00<`) || !strings.Contains(body, `id="balance">200<`) {
		t.Errorf("submit again = %d; want the code worth 6.00, balance 200:\n%s", status, body)
	}
	if held, creates := codes.state(); held != 2 || creates != 3 {
		t.Errorf("the store holds %d codes after %d creates; want 2 after 3", held, creates)
	}

	// The store refuses: 502 with its reason, the points back, a new key.
	codes.failNext(&app.ProviderError{Provider: "shopify", Message: "Minimum subtotal must be greater than 0"})
	status, body = redeem("200", "k-refused")
	if status != 502 || !strings.Contains(body, "given back") || !strings.Contains(body, "Minimum subtotal must be greater than 0") ||
		strings.Contains(body, `name="key" value="k-refused"`) || !strings.Contains(body, `id="balance">200<`) {
		t.Errorf("a refused code = %d; want 502 with the store's reason, the points back, a new key:\n%s", status, body)
	}
	pts, _ := engine.Points(ctx, m.ID, "7712398123", "", 20)
	if pts.Balance != 200 || len(pts.Entries) != 5 {
		t.Errorf("ledger = %d points in %d entries; want 200 in 5 (welcome, 2 redeems, refused and its give-back)", pts.Balance, len(pts.Entries))
	}
	if rec := b.post("/admin/loyalty/redeem", url.Values{"customer": {"7712398123"}, "points": {"200"}, "key": {"k-csrf"}}); rec.Code != 403 {
		t.Errorf("redeem without CSRF = %d; want 403", rec.Code)
	}
}
