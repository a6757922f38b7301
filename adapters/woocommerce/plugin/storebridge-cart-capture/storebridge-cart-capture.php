<?php
/**
 * Plugin Name:          storebridge Cart Capture
 * Plugin URI:           https://github.com/storebridge/storebridge
 * Description:          Captures the WooCommerce checkout as the customer types (phone or email, name, cart) for storebridge's WhatsApp abandoned-cart reminders, and restores carts from the reminders' links. Checkout never waits for storebridge.
 * Version:              1.0.0
 * Requires at least:    6.0
 * Requires PHP:         7.4
 * Author:               storebridge
 * License:              GPL-2.0-or-later
 * License URI:          https://www.gnu.org/licenses/gpl-2.0.html
 * Text Domain:          storebridge-cart-capture
 * WC requires at least: 7.0
 * WC tested up to:      9.6
 *
 * @package StoreBridge_Cart_Capture
 */

defined( 'ABSPATH' ) || exit;

define( 'STOREBRIDGE_CART_VERSION', '1.0.0' );
define( 'STOREBRIDGE_CART_FILE', __FILE__ );

require_once __DIR__ . '/includes/class-storebridge-settings.php';
require_once __DIR__ . '/includes/class-storebridge-client.php';
require_once __DIR__ . '/includes/class-storebridge-restore.php';
require_once __DIR__ . '/includes/class-storebridge-capture.php';

/**
 * Hooks the plugin in once WordPress has loaded every plugin, so
 * WooCommerce's functions exist; without WooCommerce it does nothing.
 */
function storebridge_cart_boot() {
	if ( ! class_exists( 'WooCommerce' ) ) {
		return;
	}
	StoreBridge_Settings::hooks();
	StoreBridge_Restore::hooks();
	StoreBridge_Capture::hooks();
}
add_action( 'plugins_loaded', 'storebridge_cart_boot' );

/**
 * Declares compatibility with WooCommerce's order tables (HPOS): the
 * plugin reads and writes orders only through WC_Order.
 */
function storebridge_cart_declare_compatibility() {
	if ( class_exists( '\Automattic\WooCommerce\Utilities\FeaturesUtil' ) ) {
		\Automattic\WooCommerce\Utilities\FeaturesUtil::declare_compatibility( 'custom_order_tables', STOREBRIDGE_CART_FILE, true );
	}
}
add_action( 'before_woocommerce_init', 'storebridge_cart_declare_compatibility' );

/**
 * Makes the secret that signs cart-restore links, once.
 */
function storebridge_cart_activate() {
	StoreBridge_Restore::secret();
}
register_activation_hook( __FILE__, 'storebridge_cart_activate' );
