package main

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/storebridge/storebridge/adapters/woocommerce/plugin"
)

// runWooPlugin writes the WordPress cart capture plugin's zip to path, or
// to stdout for "-". It needs no configuration: the plugin is the same for
// every store, and its settings page takes the URL and token.
func runWooPlugin(stdout io.Writer, path string) error {
	var buf bytes.Buffer
	if err := plugin.WriteZip(&buf); err != nil {
		return fmt.Errorf("woocommerce-plugin: %w", err)
	}
	if path == "-" {
		_, err := stdout.Write(buf.Bytes())
		return err
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("woocommerce-plugin: %w", err)
	}
	fmt.Fprintf(stdout, "wrote %s (%d bytes); install it in WordPress: Plugins → Add New → Upload Plugin, then WooCommerce → storebridge\n", path, buf.Len())
	return nil
}
