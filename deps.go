//go:build deps

// Package main pins dependencies that later work will import, so helpers
// working in parallel never edit go.mod at once. Removed once each is used.
package main

import (
	_ "github.com/bold-commerce/go-shopify/v4"
	_ "github.com/golang-jwt/jwt/v5"
	_ "github.com/labstack/echo/v4"
	_ "github.com/nyaruka/phonenumbers"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/redis/go-redis/v9"
	_ "go.etcd.io/bbolt"
)
