<?php
/**
 * Removes the plugin's settings when it is deleted.
 *
 * @package StoreBridge_Cart_Capture
 */

defined( 'WP_UNINSTALL_PLUGIN' ) || exit;

delete_option( 'storebridge_cart_settings' );
delete_option( 'storebridge_cart_last_failure' );
delete_option( 'storebridge_cart_secret' );
delete_transient( 'storebridge_cart_backoff' );
