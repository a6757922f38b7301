// Package handlers is the HTTP side: Echo routes, request binding and
// validation, and the one error handler. It calls app and nothing below it.
package handlers

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/app/loyalty"
)

// Pinger is the store's health check.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Handlers holds what the routes need.
type Handlers struct {
	svc        *app.Service
	loyalty    *loyalty.Engine
	storefront *app.Storefront
	shopify    *app.ShopifyInstaller
	woo        *app.WooConnector
	appURL     string
	adminToken string
	clientIP   echo.IPExtractor
	store      Pinger
	metrics    *Metrics
	log        *slog.Logger
	pages      *Pages
	shopifyKey string
	// allowInsecureOutbound: dev and tests, where the provider page may
	// point a provider at a local fake.
	allowInsecureOutbound bool
	operatorTokenFile     string
	cartPlugin            func(io.Writer) error
}

// Options are the dependencies of the HTTP side.
type Options struct {
	Service        *app.Service
	ShopifyInstall *app.ShopifyInstaller
	WooConnect     *app.WooConnector
	// Loyalty is the loyalty engine, for its program and points calls.
	Loyalty *loyalty.Engine
	// AppURL is the public base URL, for the webhook addresses shown to
	// merchants.
	AppURL string
	// AdminToken is the operator's bearer token; empty turns the operator
	// API off.
	AdminToken string
	// ClientIPHeader names the header a proxy in front of every request
	// sets to the client's address (Fly.io: Fly-Client-IP); empty: the
	// client is the socket's peer.
	ClientIPHeader string
	Store          Pinger
	Metrics        *Metrics
	Logger         *slog.Logger
	// Pages are the admin pages (LoadPages).
	Pages *Pages
	// ShopifyAPIKey is the app's client id, for App Bridge on embedded
	// pages.
	ShopifyAPIKey         string
	AllowInsecureOutbound bool
	// OperatorTokenFile names the file a development install's generated
	// ADMIN_TOKEN is in, for the sign-in page to point at; empty otherwise.
	OperatorTokenFile string
	// CartPlugin writes the WordPress cart capture plugin's zip, for the
	// cart capture page's download; nil offers none.
	CartPlugin func(io.Writer) error
}

// New returns the handlers.
func New(opts Options) *Handlers {
	h := &Handlers{
		svc: opts.Service, loyalty: opts.Loyalty, shopify: opts.ShopifyInstall, woo: opts.WooConnect, appURL: opts.AppURL, adminToken: opts.AdminToken,
		clientIP: clientIP(opts.ClientIPHeader), store: opts.Store, metrics: opts.Metrics, log: opts.Logger,
		pages: opts.Pages, shopifyKey: opts.ShopifyAPIKey, allowInsecureOutbound: opts.AllowInsecureOutbound,
		operatorTokenFile: opts.OperatorTokenFile, cartPlugin: opts.CartPlugin,
	}
	if opts.Service != nil {
		h.storefront = app.NewStorefront(opts.Service)
	}
	return h
}

// readyTimeout bounds the store check behind /readyz: a store that takes
// longer than this to answer a ping is not ready to take webhooks.
const readyTimeout = time.Second
