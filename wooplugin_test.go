package main

import (
	"archive/zip"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWooCommercePluginCommand: go run . woocommerce-plugin [out.zip]
// writes the installable zip: one top folder, the plugin's slug, whose
// main file carries the plugin header; "-" writes it to stdout.
func TestWooCommercePluginCommand(t *testing.T) {
	out := filepath.Join(t.TempDir(), "plugin.zip")
	var stdout bytes.Buffer
	if err := run(context.Background(), []string{"storebridge", "woocommerce-plugin", out}, env(map[string]string{}), &stdout); err != nil {
		t.Fatalf("run(woocommerce-plugin) = %v", err)
	}
	if !strings.Contains(stdout.String(), "wrote "+out) {
		t.Errorf("stdout = %q; want where it wrote", stdout.String())
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var piped bytes.Buffer
	if err := run(context.Background(), []string{"storebridge", "woocommerce-plugin", "-"}, env(map[string]string{}), &piped); err != nil || !bytes.Equal(piped.Bytes(), raw) {
		t.Errorf("woocommerce-plugin - = %v; want the same zip on stdout", err)
	}
	zr, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatalf("not a zip: %v", err)
	}
	names := map[string]*zip.File{}
	for _, f := range zr.File {
		if top, _, _ := strings.Cut(f.Name, "/"); top != "storebridge-cart-capture" {
			t.Errorf("entry %s is not under storebridge-cart-capture/", f.Name)
		}
		names[f.Name] = f
	}
	for _, want := range []string{
		"storebridge-cart-capture/storebridge-cart-capture.php", "storebridge-cart-capture/readme.txt",
		"storebridge-cart-capture/uninstall.php", "storebridge-cart-capture/assets/checkout.js",
		"storebridge-cart-capture/includes/class-storebridge-client.php", "storebridge-cart-capture/includes/class-storebridge-capture.php",
		"storebridge-cart-capture/includes/class-storebridge-restore.php", "storebridge-cart-capture/includes/class-storebridge-settings.php",
	} {
		if names[want] == nil {
			t.Errorf("zip lacks %s", want)
		}
	}
	f := names["storebridge-cart-capture/storebridge-cart-capture.php"]
	if f == nil {
		t.FailNow()
	}
	rc, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var main bytes.Buffer
	if _, err := main.ReadFrom(rc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(main.String(), "<?php\n/**\n * Plugin Name:") {
		t.Errorf("main file does not open with the plugin header:\n%.200s", main.String())
	}
	for _, args := range [][]string{{"woocommerce-plugin", "a.zip", "b.zip"}, {"woocommerce-plugin", "--out"}} {
		if err := run(context.Background(), append([]string{"storebridge"}, args...), env(map[string]string{}), &bytes.Buffer{}); err == nil {
			t.Errorf("run(%v) = nil; want a usage error", args)
		}
	}
}
