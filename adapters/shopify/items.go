package shopify

import (
	"strings"

	goshopify "github.com/bold-commerce/go-shopify/v4"
	"github.com/storebridge/storebridge/app"
)

func lineItem(li goshopify.LineItem) app.LineItem {
	name := strings.TrimSpace(li.Title)
	if name == "" {
		// name already carries the variant: "Kurta - Blue / M".
		return app.LineItem{Name: strings.TrimSpace(li.Name), Quantity: li.Quantity}
	}
	if v := strings.TrimSpace(li.VariantTitle); v != "" && v != "Default Title" {
		name += " (" + v + ")"
	}
	return app.LineItem{Name: name, Quantity: li.Quantity}
}
