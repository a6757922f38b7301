package app_test

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app"
)

// begin starts a connect as who and answers its start and the connect id
// its return address carries.
func (e *wooEnv) begin(t *testing.T, who app.WooConnectStarter) (app.WooConnectStart, string) {
	t.Helper()
	start, err := e.conn.BeginConnect(context.Background(), e.woo.srv.URL, who)
	if err != nil {
		t.Fatalf("BeginConnect() = %v", err)
	}
	u, _ := url.Parse(start.URL)
	back, err := url.Parse(u.Query().Get("return_url"))
	if err != nil || back.Path != "/woocommerce/return" || back.Query().Get("connect") == "" {
		t.Fatalf("return_url = %q; want /woocommerce/return?connect=…", u.Query().Get("return_url"))
	}
	if start.Browser == "" || !start.Expires.Equal(e.clock.Now().Add(app.WooConnectTokenTTL)) {
		t.Fatalf("start = %+v; want a browser secret expiring with the token", start)
	}
	return start, back.Query().Get("connect")
}

func (e *wooEnv) callback(t *testing.T, start app.WooConnectStart, ck, cs string) (app.Merchant, error) {
	t.Helper()
	u, _ := url.Parse(start.URL)
	return e.conn.Callback(context.Background(), app.WooCallback{
		KeyID: 7, UserID: u.Query().Get("user_id"), ConsumerKey: ck, ConsumerSecret: cs, KeyPermissions: "read_write",
	})
}

// TestWooReturnSignsInTheBrowserThatStartedTheConnect: the return signs
// in only the browser holding the connect's secret, only after the
// callback stored the keys, and only once; a wrong browser uses nothing
// up.
func TestWooReturnSignsInTheBrowserThatStartedTheConnect(t *testing.T) {
	env := newWooEnv(t)
	ctx := context.Background()
	start, connect := env.begin(t, app.WooConnectStarter{})
	other, _ := env.begin(t, app.WooConnectStarter{}) // another browser, the same store

	if id, err := env.conn.SignInOnReturn(ctx, connect, start.Browser); !errors.Is(err, app.ErrUnauthenticated) {
		t.Fatalf("SignInOnReturn() before the callback = %q, %v; want ErrUnauthenticated", id, err)
	}
	m, err := env.callback(t, start, wooCK, wooCS)
	if err != nil {
		t.Fatalf("Callback() = %v", err)
	}
	for name, in := range map[string][2]string{
		"no browser secret":              {connect, ""},
		"another browser's secret":       {connect, other.Browser},
		"the connect's token as secret":  {connect, start.URL},
		"no connect":                     {"", start.Browser},
		"another connect, right browser": {"Q2XLMVJ5QWTJ4UQOSFDYZ6C5FA", start.Browser},
	} {
		if id, err := env.conn.SignInOnReturn(ctx, in[0], in[1]); !errors.Is(err, app.ErrUnauthenticated) {
			t.Errorf("SignInOnReturn() with %s = %q, %v; want ErrUnauthenticated", name, id, err)
		}
	}
	if id, err := env.conn.SignInOnReturn(ctx, connect, start.Browser); err != nil || id != m.ID {
		t.Fatalf("SignInOnReturn() of the starting browser = %q, %v; want %s", id, err, m.ID)
	}
	if id, err := env.conn.SignInOnReturn(ctx, connect, start.Browser); !errors.Is(err, app.ErrUnauthenticated) {
		t.Fatalf("SignInOnReturn() replayed = %q, %v; want ErrUnauthenticated", id, err)
	}
}

// TestWooReturnAfterARefusedCallbackOrTooLate: a callback that kept no
// key signs nobody in, and a return later than WooReturnTTL neither.
func TestWooReturnAfterARefusedCallbackOrTooLate(t *testing.T) {
	env := newWooEnv(t)
	ctx := context.Background()
	refused, connect := env.begin(t, app.WooConnectStarter{})
	if _, err := env.callback(t, refused, wooCK, "cs_not_the_stores_secret"); err == nil {
		t.Fatal("Callback() with a key the store refuses = nil; want an error")
	}
	if id, err := env.conn.SignInOnReturn(ctx, connect, refused.Browser); !errors.Is(err, app.ErrUnauthenticated) {
		t.Errorf("SignInOnReturn() after a refused callback = %q, %v; want ErrUnauthenticated", id, err)
	}

	late, connect := env.begin(t, app.WooConnectStarter{})
	if _, err := env.callback(t, late, wooCK, wooCS); err != nil {
		t.Fatalf("Callback() = %v", err)
	}
	env.clock.Add(app.WooReturnTTL + time.Second)
	if id, err := env.conn.SignInOnReturn(ctx, connect, late.Browser); !errors.Is(err, app.ErrUnauthenticated) {
		t.Errorf("SignInOnReturn() after %s = %q, %v; want ErrUnauthenticated", app.WooReturnTTL, id, err)
	}
}

// TestWooReturnOfAReconnect: a reconnect from the merchant's session
// lands that merchant signed in again.
func TestWooReturnOfAReconnect(t *testing.T) {
	env := newWooEnv(t)
	ctx := context.Background()
	m := env.connect(t, wooCK, wooCS)
	env.woo.addKey("ck_second", "cs_second", "read_write")
	start, connect := env.begin(t, app.WooConnectStarter{Merchant: m.ID})
	if _, err := env.callback(t, start, "ck_second", "cs_second"); err != nil {
		t.Fatalf("reconnect Callback() = %v", err)
	}
	if id, err := env.conn.SignInOnReturn(ctx, connect, start.Browser); err != nil || id != m.ID {
		t.Fatalf("SignInOnReturn() of the reconnect = %q, %v; want %s", id, err, m.ID)
	}
}
