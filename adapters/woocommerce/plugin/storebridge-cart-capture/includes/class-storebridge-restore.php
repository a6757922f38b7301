<?php
/**
 * Recovery links: signed links that put a captured cart back and open the
 * checkout.
 *
 * @package StoreBridge_Cart_Capture
 */

defined( 'ABSPATH' ) || exit;

/**
 * Builds and follows the links storebridge puts in its reminders.
 */
final class StoreBridge_Restore {
	const SECRET_OPTION = 'storebridge_cart_secret';
	const SNAPSHOT      = 'storebridge_cart_';
	/** How long a cart can be restored: as long as storebridge remembers it. */
	const TTL = 30 * DAY_IN_SECONDS;
	const ARG = 'storebridge_restore';
	/**
	 * The code a reminder's link may carry, to apply once the cart is back.
	 * It is not signed: storebridge adds it after the store signed the link,
	 * and does not hold the store's secret. The signature still decides
	 * which cart is restored; a code swapped in by hand gets no more than
	 * typing it in the coupon box, since WooCommerce checks it as it does
	 * any code (storebridge's codes are single-use and for the customer's
	 * email only).
	 */
	const COUPON_ARG = 'sb_coupon';
	/** Longer than any code WooCommerce users type or storebridge makes. */
	const COUPON_MAX = 64;

	/**
	 * Follows restore links on the storefront, once the cart is loaded.
	 */
	public static function hooks() {
		add_action( 'template_redirect', array( __CLASS__, 'handle' ), 1 );
	}

	/**
	 * The secret that signs links, made once per store.
	 *
	 * @return string
	 */
	public static function secret() {
		$secret = get_option( self::SECRET_OPTION, '' );
		if ( ! is_string( $secret ) || strlen( $secret ) < 32 ) {
			$secret = bin2hex( random_bytes( 32 ) );
			update_option( self::SECRET_OPTION, $secret, false );
		}
		return $secret;
	}

	/**
	 * The signature of a cart's link.
	 *
	 * @param string $cart_id The cart.
	 * @param int    $expires When the link stops working (Unix time).
	 * @return string
	 */
	public static function sign( $cart_id, $expires ) {
		return substr( hash_hmac( 'sha256', 'restore|' . $cart_id . '|' . $expires, self::secret() ), 0, 32 );
	}

	/**
	 * The link that restores a cart, for storebridge to send.
	 *
	 * @param string $cart_id The cart.
	 * @return string
	 */
	public static function url( $cart_id ) {
		$expires = time() + self::TTL;
		return add_query_arg(
			array(
				self::ARG => rawurlencode( $cart_id ),
				'exp'     => $expires,
				'sig'     => self::sign( $cart_id, $expires ),
			),
			home_url( '/' )
		);
	}

	/**
	 * Whether a link's parts are ones this store signed and still honours.
	 *
	 * @param string $cart_id The cart named.
	 * @param string $expires Its expiry, as the link has it.
	 * @param string $sig     Its signature.
	 * @return bool
	 */
	public static function verify( $cart_id, $expires, $sig ) {
		if ( ! StoreBridge_Capture::valid_cart_id( $cart_id ) || ! ctype_digit( (string) $expires ) || (int) $expires < time() ) {
			return false;
		}
		return hash_equals( self::sign( $cart_id, (int) $expires ), (string) $sig );
	}

	/**
	 * Keeps what restoring the cart needs, server-side.
	 *
	 * @param string $cart_id  The cart.
	 * @param array  $snapshot Its lines and the customer's fields.
	 */
	public static function keep( $cart_id, array $snapshot ) {
		set_transient( self::SNAPSHOT . $cart_id, $snapshot, self::TTL );
	}

	/**
	 * What was kept of a cart, or null.
	 *
	 * @param string $cart_id The cart.
	 * @return array|null
	 */
	public static function snapshot( $cart_id ) {
		$snapshot = get_transient( self::SNAPSHOT . $cart_id );
		return is_array( $snapshot ) ? $snapshot : null;
	}

	/**
	 * Restores the cart of a valid link and opens the checkout.
	 */
	public static function handle() {
		if ( ! isset( $_GET[ self::ARG ] ) ) { // phpcs:ignore WordPress.Security.NonceVerification.Recommended -- the link is signed instead.
			return;
		}
		nocache_headers();
		// phpcs:ignore WordPress.Security.NonceVerification.Recommended -- the signature authenticates the link.
		if ( ! self::follow( wp_unslash( $_GET ) ) ) {
			wc_add_notice( __( 'This cart link has expired. Your cart is as you left it on this device.', 'storebridge-cart-capture' ), 'notice' );
			wp_safe_redirect( wc_get_cart_url() );
			exit;
		}
		wp_safe_redirect( wc_get_checkout_url() );
		exit;
	}

	/**
	 * Follows a restore link's query: a link this store signed and still
	 * honours puts its cart back, then applies the code it carries, if any.
	 * A link that does not verify changes nothing, code or not.
	 *
	 * @param array $query The link's query parameters, unslashed.
	 * @return bool Whether the cart was restored.
	 */
	public static function follow( array $query ) {
		$arg     = function ( $name ) use ( $query ) {
			return isset( $query[ $name ] ) && is_string( $query[ $name ] ) ? sanitize_text_field( $query[ $name ] ) : '';
		};
		$cart_id = $arg( self::ARG );
		if ( ! self::verify( $cart_id, $arg( 'exp' ), $arg( 'sig' ) ) ) {
			return false;
		}
		$snapshot = self::snapshot( $cart_id );
		if ( null === $snapshot || ! function_exists( 'WC' ) || ! WC()->cart ) {
			return false;
		}
		self::restore( $cart_id, $snapshot );
		self::apply_code( $arg( self::COUPON_ARG ) );
		return true;
	}

	/**
	 * Applies a link's code to the restored cart through WooCommerce, which
	 * checks it (exists, not expired, usage limits, email restrictions) and
	 * tells the customer why when it refuses it.
	 *
	 * @param string $raw The code as the link has it.
	 * @return bool Whether the cart has the code now.
	 */
	public static function apply_code( $raw ) {
		$code = wc_format_coupon_code( (string) $raw );
		if ( '' === $code || strlen( $code ) > self::COUPON_MAX ) {
			return false;
		}
		$cart = WC()->cart;
		if ( $cart->has_discount( $code ) ) {
			return true;
		}
		return (bool) $cart->apply_coupon( $code );
	}

	/**
	 * Puts the snapshot's lines in the cart and the customer's fields in
	 * the checkout, and keeps the cart's id, so the order recovers it.
	 *
	 * @param string $cart_id  The cart.
	 * @param array  $snapshot What keep() kept.
	 */
	public static function restore( $cart_id, array $snapshot ) {
		$cart = WC()->cart;
		$cart->empty_cart( false );
		foreach ( isset( $snapshot['items'] ) ? (array) $snapshot['items'] : array() as $line ) {
			$product_id = isset( $line['product_id'] ) ? absint( $line['product_id'] ) : 0;
			$quantity   = isset( $line['quantity'] ) ? max( 1, absint( $line['quantity'] ) ) : 1;
			if ( $product_id > 0 ) {
				$cart->add_to_cart(
					$product_id,
					$quantity,
					isset( $line['variation_id'] ) ? absint( $line['variation_id'] ) : 0,
					isset( $line['variation'] ) && is_array( $line['variation'] ) ? array_map( 'sanitize_text_field', $line['variation'] ) : array()
				);
			}
		}
		$customer = isset( $snapshot['customer'] ) && is_array( $snapshot['customer'] ) ? $snapshot['customer'] : array();
		if ( WC()->customer ) {
			$setters = array(
				'email'      => 'set_billing_email',
				'phone'      => 'set_billing_phone',
				'first_name' => 'set_billing_first_name',
				'last_name'  => 'set_billing_last_name',
				'country'    => 'set_billing_country',
			);
			foreach ( $setters as $field => $setter ) {
				if ( ! empty( $customer[ $field ] ) ) {
					WC()->customer->$setter( sanitize_text_field( (string) $customer[ $field ] ) );
				}
			}
			WC()->customer->save();
		}
		if ( WC()->session ) {
			WC()->session->set( StoreBridge_Capture::SESSION_CART, $cart_id );
		}
	}
}
