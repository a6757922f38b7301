// Package plugin carries storebridge's WordPress plugin for WooCommerce
// cart capture (PHP, in storebridge-cart-capture/) and writes it as the zip
// WordPress installs.
package plugin

import (
	"archive/zip"
	"embed"
	"fmt"
	"io"
	"io/fs"
	"time"
)

// Slug is the plugin's folder and main file name, and the zip's top
// folder, as WordPress expects it.
const Slug = "storebridge-cart-capture"

//go:embed storebridge-cart-capture
var files embed.FS

// Files lists the plugin's files, as paths under Slug.
func Files() ([]string, error) {
	var out []string
	err := fs.WalkDir(files, Slug, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, path)
		}
		return err
	})
	return out, err
}

// WriteZip writes the installable zip: the folder Slug/ with every file
// and folder under it. Every entry carries the same time, so one build's
// zip is the same bytes each time.
func WriteZip(w io.Writer) error {
	modified := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	zw := zip.NewWriter(w)
	err := fs.WalkDir(files, Slug, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		hdr := &zip.FileHeader{Name: path, Method: zip.Deflate, Modified: modified}
		if d.IsDir() {
			hdr.Name, hdr.Method = path+"/", zip.Store
			hdr.SetMode(fs.ModeDir | 0o755)
			_, err := zw.CreateHeader(hdr)
			return err
		}
		body, err := files.ReadFile(path)
		if err != nil {
			return err
		}
		hdr.SetMode(0o644)
		f, err := zw.CreateHeader(hdr)
		if err != nil {
			return err
		}
		_, err = f.Write(body)
		return err
	})
	if err != nil {
		return fmt.Errorf("plugin: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("plugin: %w", err)
	}
	return nil
}
