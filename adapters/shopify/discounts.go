package shopify

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/storebridge/storebridge/app"
)

var _ app.ShopifyDiscounts = (*Admin)(nil)

// discountCodeBasicCreateMutation creates an amount off code discount
// (GraphQL Admin API; the REST price rules are legacy). It needs the
// write_discounts scope.
const discountCodeBasicCreateMutation = `mutation discountCodeBasicCreate($basicCodeDiscount: DiscountCodeBasicInput!) {
  discountCodeBasicCreate(basicCodeDiscount: $basicCodeDiscount) {
    codeDiscountNode { id codeDiscount { ... on DiscountCodeBasic { endsAt } } }
    userErrors { field message code }
  }
}`

// codeDiscountNodeByCodeQuery finds a code discount by its code (Shopify
// compares codes case-insensitively): how a retried create answers the
// discount the first try made.
const codeDiscountNodeByCodeQuery = `query codeDiscountNodeByCode($code: String!) {
  codeDiscountNodeByCode(code: $code) {
    id
    codeDiscount {
      ... on DiscountCodeBasic {
        endsAt
        customerGets { value {
          ... on DiscountAmount { amount { amount currencyCode } }
          ... on DiscountPercentage { percentage }
        } }
      }
    }
  }
}`

// scopeDiscounts is the access scope the discount calls need.
const scopeDiscounts = "write_discounts"

// customerGID is the GraphQL id of a customer given by its numeric id (a
// GID is taken as is); empty when id is neither.
func customerGID(id string) string {
	if strings.HasPrefix(id, "gid://shopify/Customer/") {
		return id
	}
	if id == "" || id == "0" || strings.Trim(id, "0123456789") != "" {
		return ""
	}
	return "gid://shopify/Customer/" + id
}

// discountInput is the DiscountCodeBasicInput of r: single use, once per
// customer, on every item, limited to the customer when r names their
// Shopify id (context, which replaced customerSelection), else open to
// all buyers.
func discountInput(r app.DiscountRequest) (map[string]any, error) {
	var value map[string]any
	switch r.Kind {
	case app.DiscountFixedAmount:
		value = map[string]any{"discountAmount": map[string]any{"amount": r.Value, "appliesOnEachItem": false}}
	case app.DiscountPercentage:
		// Shopify takes a fraction: 0.1 is 10% off.
		pct, err := strconv.ParseFloat(r.Value, 64)
		if err != nil || pct <= 0 || pct > 100 {
			return nil, &app.ProviderError{Provider: Name, Code: "INVALID", Message: "the percentage " + r.Value + " is not between 0 and 100"}
		}
		value = map[string]any{"percentage": pct / 100}
	default:
		return nil, &app.ProviderError{Provider: Name, Code: "INVALID", Message: "unknown discount kind " + r.Kind}
	}
	starts := r.StartsAt
	if starts.IsZero() {
		starts = time.Now()
	}
	in := map[string]any{
		"title":                  r.Title,
		"code":                   r.Code,
		"startsAt":               starts.UTC().Format(time.RFC3339),
		"usageLimit":             1,
		"appliesOncePerCustomer": true,
		"customerGets":           map[string]any{"value": value, "items": map[string]any{"all": true}},
		"context":                map[string]any{"all": "ALL"},
	}
	if gid := customerGID(r.Customer.ID); gid != "" {
		in["context"] = map[string]any{"customers": map[string]any{"add": []string{gid}}}
	}
	if !r.EndsAt.IsZero() {
		in["endsAt"] = r.EndsAt.UTC().Format(time.RFC3339)
	}
	if r.MinimumSubtotal != "" {
		in["minimumRequirement"] = map[string]any{"subtotal": map[string]any{"greaterThanOrEqualToSubtotal": r.MinimumSubtotal}}
	}
	return in, nil
}

// CreateDiscountCode creates r's code in the shop. A code the shop holds
// already (a retry after a lost answer) is looked up and answered. User
// errors are permanent with Shopify's message; a token without
// write_discounts is permanent and says so; throttling and 5xx are
// retryable.
func (a *Admin) CreateDiscountCode(ctx context.Context, shop, token string, r app.DiscountRequest) (app.DiscountCode, error) {
	in, err := discountInput(r)
	if err != nil {
		return app.DiscountCode{}, err
	}
	var data struct {
		Create struct {
			Node *struct {
				ID           string `json:"id"`
				CodeDiscount struct {
					EndsAt *time.Time `json:"endsAt"`
				} `json:"codeDiscount"`
			} `json:"codeDiscountNode"`
			UserErrors []userError `json:"userErrors"`
		} `json:"discountCodeBasicCreate"`
	}
	if err := a.graphQL(ctx, shop, token, discountCodeBasicCreateMutation, map[string]any{"basicCodeDiscount": in}, &data); err != nil {
		return app.DiscountCode{}, scopeError(err)
	}
	for _, e := range data.Create.UserErrors {
		if codeTaken(e) {
			return a.discountByCode(ctx, shop, token, r)
		}
	}
	if len(data.Create.UserErrors) > 0 {
		return app.DiscountCode{}, data.Create.UserErrors[0].permanent()
	}
	if data.Create.Node == nil {
		return app.DiscountCode{}, &app.ProviderError{Provider: Name, Status: http.StatusOK, Message: "discountCodeBasicCreate answered no discount and no error"}
	}
	out := app.DiscountCode{Code: r.Code, Kind: r.Kind, Value: r.Value, Currency: r.Currency, EndsAt: r.EndsAt, PlatformID: data.Create.Node.ID}
	if at := data.Create.Node.CodeDiscount.EndsAt; at != nil {
		out.EndsAt = *at
	}
	return out, nil
}

// discountByCode answers the shop's discount with r's code.
func (a *Admin) discountByCode(ctx context.Context, shop, token string, r app.DiscountRequest) (app.DiscountCode, error) {
	var data struct {
		Node *struct {
			ID           string `json:"id"`
			CodeDiscount struct {
				EndsAt       *time.Time `json:"endsAt"`
				CustomerGets *struct {
					Value struct {
						Amount *struct {
							Amount       string `json:"amount"`
							CurrencyCode string `json:"currencyCode"`
						} `json:"amount"`
						Percentage *float64 `json:"percentage"`
					} `json:"value"`
				} `json:"customerGets"`
			} `json:"codeDiscount"`
		} `json:"codeDiscountNodeByCode"`
	}
	if err := a.graphQL(ctx, shop, token, codeDiscountNodeByCodeQuery, map[string]any{"code": r.Code}, &data); err != nil {
		return app.DiscountCode{}, scopeError(err)
	}
	if data.Node == nil {
		// Taken, yet not a code discount we can read: another kind of
		// discount holds it.
		return app.DiscountCode{}, &app.ProviderError{Provider: Name, Status: http.StatusOK, Code: "TAKEN", Message: "the code " + r.Code + " is used by another discount of the shop"}
	}
	out := app.DiscountCode{Code: r.Code, Kind: r.Kind, Value: r.Value, Currency: r.Currency, EndsAt: r.EndsAt, PlatformID: data.Node.ID}
	d := data.Node.CodeDiscount
	if d.EndsAt != nil {
		out.EndsAt = *d.EndsAt
	}
	if g := d.CustomerGets; g != nil {
		switch {
		case g.Value.Amount != nil:
			out.Kind, out.Value, out.Currency = app.DiscountFixedAmount, g.Value.Amount.Amount, g.Value.Amount.CurrencyCode
		case g.Value.Percentage != nil:
			out.Kind, out.Value = app.DiscountPercentage, strconv.FormatFloat(*g.Value.Percentage*100, 'f', -1, 64)
		}
	}
	return out, nil
}

// codeTaken tells the user error of a code the shop already holds: by
// its code (TAKEN), or by its message when Shopify gives no code.
func codeTaken(e userError) bool {
	if e.Code == "TAKEN" {
		return true
	}
	if e.Code != "" {
		return false
	}
	m := strings.ToLower(e.Message)
	return strings.Contains(m, "code") && (strings.Contains(m, "unique") || strings.Contains(m, "taken"))
}

// scopeError names write_discounts in the error of a token that lacks
// it: Shopify answers ACCESS_DENIED (or 403) until the merchant approves
// the app's new scopes.
func scopeError(err error) error {
	var pe *app.ProviderError
	if !errors.As(err, &pe) || (pe.Code != "ACCESS_DENIED" && pe.Status != http.StatusForbidden) {
		return err
	}
	named := *pe
	named.Retryable = false
	named.Message = "the app lacks the " + scopeDiscounts + " access scope; the merchant must approve the app's updated scopes (" + pe.Message + ")"
	return &named
}
