// Package web holds what the binary carries besides code: the admin pages'
// templates and assets (to come), and the sample webhooks the demo replays.
package web

import "embed"

// Samples are realistic Shopify and WooCommerce webhook bodies, named
// <platform>_<topic with _ for / and .>.json, for the demo.
//
//go:embed samples/*.json
var Samples embed.FS
