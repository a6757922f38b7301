// Package sandbox is the provider that sends nothing: every message is
// accepted and the delivery record (template, values, phone) is the
// message. The demo uses it, and a merchant may choose it to try rules
// before going live; a merchant with no provider gets nothing sent at all.
package sandbox

import (
	"context"

	"github.com/storebridge/storebridge/app"
)

// Name is the provider's name in rules and the admin API.
const Name = app.ProviderSandbox

// Client accepts messages without sending them.
type Client struct{}

var _ app.Provider = Client{}

// New returns the sandbox; it takes no credentials.
func New(map[string]string) (app.Provider, error) { return Client{}, nil }

// Name is "sandbox".
func (Client) Name() string { return Name }

// Verify always succeeds: there is nothing to connect to.
func (Client) Verify(context.Context) error { return nil }

// Send accepts a well-formed message and names it after our delivery.
func (Client) Send(ctx context.Context, m app.Message) (app.SendResult, error) {
	if m.Mode == app.ModeTemplate && m.Template == "" && len(m.Buttons) == 0 {
		return app.SendResult{}, &app.ProviderError{Provider: Name, Message: "template mode without a template"}
	}
	if err := ctx.Err(); err != nil {
		return app.SendResult{}, &app.ProviderError{Provider: Name, Retryable: true, Err: err}
	}
	return app.SendResult{ProviderMessageID: "sandbox." + m.DeliveryID}, nil
}

// Kit is the sandbox's entry in the service's provider list.
func Kit() app.ProviderKit { return app.ProviderKit{New: New, Dedupes: true} }
