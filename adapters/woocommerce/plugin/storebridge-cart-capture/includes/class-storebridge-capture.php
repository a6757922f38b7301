<?php
/**
 * The checkout side: the script, the store's own capture endpoint, the
 * consent checkbox, and the cart id on the order.
 *
 * @package StoreBridge_Cart_Capture
 */

defined( 'ABSPATH' ) || exit;

/**
 * Captures checkouts. The browser talks only to this store (admin-ajax);
 * the store forwards to storebridge with the token.
 */
final class StoreBridge_Capture {
	const ACTION       = 'storebridge_capture';
	const NONCE        = 'storebridge_capture';
	const SESSION_CART = 'storebridge_cart_id';
	const SESSION_SENT = 'storebridge_cart_sent';
	const CONSENT      = 'storebridge_whatsapp_optin';
	/** The order meta storebridge reads to recover the cart. */
	const META_CART = '_storebridge_cart';
	/** The order meta storebridge reads for the customer's WhatsApp opt-in. */
	const META_OPTIN = '_storebridge_whatsapp_optin';

	/**
	 * Registers the hooks.
	 */
	public static function hooks() {
		add_action( 'wp_enqueue_scripts', array( __CLASS__, 'enqueue' ) );
		add_action( 'wp_ajax_' . self::ACTION, array( __CLASS__, 'ajax' ) );
		add_action( 'wp_ajax_nopriv_' . self::ACTION, array( __CLASS__, 'ajax' ) );
		add_action( 'woocommerce_review_order_before_submit', array( __CLASS__, 'checkbox' ) );
		add_action( 'woocommerce_checkout_create_order', array( __CLASS__, 'tag_order' ) );
		add_action( 'woocommerce_store_api_checkout_update_order_meta', array( __CLASS__, 'tag_order' ) );
		add_action( 'woocommerce_checkout_order_processed', array( __CLASS__, 'converted' ) );
		add_action( 'woocommerce_store_api_checkout_order_processed', array( __CLASS__, 'converted' ) );
		add_action( 'woocommerce_cart_item_removed', array( __CLASS__, 'maybe_emptied' ) );
		add_action( 'woocommerce_cart_emptied', array( __CLASS__, 'maybe_emptied' ) );
	}

	/**
	 * Loads the capture script on the checkout page only.
	 */
	public static function enqueue() {
		if ( ! StoreBridge_Settings::connected() || ! function_exists( 'is_checkout' ) || ! is_checkout() || is_order_received_page() ) {
			return;
		}
		$settings = StoreBridge_Settings::get();
		wp_enqueue_script( 'storebridge-cart-capture', plugins_url( 'assets/checkout.js', STOREBRIDGE_CART_FILE ), array(), STOREBRIDGE_CART_VERSION, true );
		wp_localize_script(
			'storebridge-cart-capture',
			'storebridgeCart',
			array(
				'ajaxUrl' => admin_url( 'admin-ajax.php' ),
				'action'  => self::ACTION,
				'nonce'   => wp_create_nonce( self::NONCE ),
				'consent' => $settings['consent'],
				'field'   => self::CONSENT,
				'label'   => $settings['consent_label'],
			)
		);
	}

	/**
	 * The consent checkbox on the classic checkout (the script adds the
	 * same box to the block checkout).
	 */
	public static function checkbox() {
		$settings = StoreBridge_Settings::get();
		if ( 'checkbox' !== $settings['consent'] || ! StoreBridge_Settings::connected() ) {
			return;
		}
		woocommerce_form_field(
			self::CONSENT,
			array(
				'type'  => 'checkbox',
				'class' => array( 'form-row-wide', 'storebridge-optin' ),
				'label' => esc_html( $settings['consent_label'] ),
			),
			WC()->checkout()->get_value( self::CONSENT )
		);
	}

	/**
	 * Whether a cart id is one this plugin makes (and storebridge takes).
	 *
	 * @param string $cart_id The id.
	 * @return bool
	 */
	public static function valid_cart_id( $cart_id ) {
		return is_string( $cart_id ) && 1 === preg_match( '/^[A-Za-z0-9_-]{1,64}$/', $cart_id );
	}

	/**
	 * The customer's cart id, made on first use and kept in their session.
	 *
	 * @return string
	 */
	public static function cart_id() {
		$id = WC()->session ? WC()->session->get( self::SESSION_CART ) : '';
		if ( ! self::valid_cart_id( $id ) ) {
			$id = bin2hex( random_bytes( 16 ) );
			if ( WC()->session ) {
				WC()->session->set( self::SESSION_CART, $id );
			}
		}
		return $id;
	}

	/**
	 * The store's capture endpoint, called by the checkout script. It
	 * answers at once whatever storebridge does, and never tells the
	 * browser more than whether it was taken.
	 */
	public static function ajax() {
		if ( false === check_ajax_referer( self::NONCE, 'nonce', false ) ) {
			wp_send_json_error( array( 'reason' => 'nonce' ), 403 );
		}
		if ( ! function_exists( 'WC' ) || ! WC()->cart || ! WC()->session ) {
			wp_send_json_error( array( 'reason' => 'no_cart' ), 400 );
		}
		$fields = self::fields_from_request( wp_unslash( $_POST ) ); // phpcs:ignore WordPress.Security.NonceVerification.Missing -- checked above.
		if ( null === $fields ) {
			wp_send_json_success( array( 'outcome' => 'skipped' ) );
		}
		$cart_id = self::cart_id();
		if ( WC()->cart->is_empty() ) {
			wp_send_json_success( array( 'outcome' => 'empty' ) );
		}
		$payload = self::build_payload( $cart_id, $fields, WC()->cart, get_woocommerce_currency() );
		// A repeat of what was sent last (the customer tabbing through) costs nothing.
		$digest = md5( wp_json_encode( array( $payload['customer'], $payload['consent'] ?? null, $payload['items'], $payload['total'] ) ) );
		if ( WC()->session->get( self::SESSION_SENT ) === $digest ) {
			wp_send_json_success( array( 'outcome' => 'unchanged' ) );
		}
		StoreBridge_Restore::keep( $cart_id, self::snapshot( WC()->cart, $fields ) );
		$result = StoreBridge_Client::send( $payload );
		if ( $result['ok'] ) {
			WC()->session->set( self::SESSION_SENT, $digest );
		}
		wp_send_json_success( array( 'outcome' => $result['ok'] ? 'sent' : 'not_sent' ) );
	}

	/**
	 * The contact fields of a capture request, cleaned; null when neither
	 * the email nor the phone is usable yet, or the checkbox the merchant
	 * asks for is not ticked (and was not just unticked).
	 *
	 * @param array $request The request's fields, unslashed.
	 * @return array|null
	 */
	public static function fields_from_request( array $request ) {
		$text   = function ( $key, $max ) use ( $request ) {
			return isset( $request[ $key ] ) ? substr( sanitize_text_field( (string) $request[ $key ] ), 0, $max ) : '';
		};
		$fields = array(
			'email'      => isset( $request['email'] ) ? sanitize_email( (string) $request['email'] ) : '',
			'phone'      => $text( 'phone', 32 ),
			'first_name' => $text( 'first_name', 100 ),
			'last_name'  => $text( 'last_name', 100 ),
			'country'    => strtoupper( $text( 'country', 2 ) ),
			'consent'    => null,
		);
		if ( '' !== $fields['email'] && ! is_email( $fields['email'] ) ) {
			$fields['email'] = '';
		}
		$digits = preg_replace( '/\D/', '', $fields['phone'] );
		if ( strlen( $digits ) < 7 || strlen( $digits ) > 15 ) {
			$fields['phone'] = '';
		}
		if ( '' === $fields['email'] && '' === $fields['phone'] ) {
			return null;
		}
		if ( ! preg_match( '/^[A-Z]{2}$/', $fields['country'] ) ) {
			$fields['country'] = '';
		}
		if ( 'checkbox' === StoreBridge_Settings::get()['consent'] ) {
			$ticked = isset( $request['consent'] ) ? (string) $request['consent'] : '';
			if ( '1' === $ticked ) {
				$fields['consent'] = true;
			} elseif ( '0' === $ticked ) {
				$fields['consent'] = false; // unticked after ticking: storebridge records the refusal
			} else {
				return null;
			}
		}
		return $fields;
	}

	/**
	 * The capture storebridge takes, from the cart as WooCommerce holds it
	 * (never prices the browser sent).
	 *
	 * @param string $cart_id  The cart.
	 * @param array  $fields   fields_from_request()'s.
	 * @param object $cart     WC_Cart.
	 * @param string $currency The store's currency.
	 * @return array
	 */
	public static function build_payload( $cart_id, array $fields, $cart, $currency ) {
		$items = array();
		foreach ( $cart->get_cart() as $line ) {
			$product = isset( $line['data'] ) ? $line['data'] : null;
			if ( ! $product || count( $items ) >= 100 ) {
				continue;
			}
			$quantity = max( 1, (int) $line['quantity'] );
			$items[]  = array(
				'name'         => wp_strip_all_tags( html_entity_decode( $product->get_name(), ENT_QUOTES, 'UTF-8' ) ),
				'quantity'     => $quantity,
				'price'        => self::amount( $product->get_price() ),
				'product_id'   => (int) $line['product_id'],
				'variation_id' => isset( $line['variation_id'] ) ? (int) $line['variation_id'] : 0,
			);
		}
		$payload = array(
			'id'           => $cart_id,
			'version'      => (int) floor( microtime( true ) * 1000 ),
			'updated_at'   => gmdate( 'Y-m-d\TH:i:s\Z' ),
			'status'       => 'open',
			'customer'     => array(
				'first_name' => $fields['first_name'],
				'last_name'  => $fields['last_name'],
				'email'      => $fields['email'],
				'phone'      => $fields['phone'],
				'country'    => $fields['country'],
			),
			'currency'     => strtoupper( (string) $currency ),
			'total'        => self::amount( $cart->get_total( 'edit' ) ),
			'items'        => $items,
			'recovery_url' => StoreBridge_Restore::url( $cart_id ),
		);
		if ( null !== $fields['consent'] ) {
			$payload['consent'] = (bool) $fields['consent'];
		}
		return $payload;
	}

	/**
	 * An amount as the decimal string storebridge takes.
	 *
	 * @param mixed $value A price or total.
	 * @return string
	 */
	public static function amount( $value ) {
		return number_format( max( 0, (float) $value ), 2, '.', '' );
	}

	/**
	 * What restoring the cart needs: its lines with their options, and the
	 * customer's fields for the checkout form.
	 *
	 * @param object $cart   WC_Cart.
	 * @param array  $fields The customer's fields.
	 * @return array
	 */
	public static function snapshot( $cart, array $fields ) {
		$items = array();
		foreach ( $cart->get_cart() as $line ) {
			$items[] = array(
				'product_id'   => (int) $line['product_id'],
				'variation_id' => isset( $line['variation_id'] ) ? (int) $line['variation_id'] : 0,
				'variation'    => isset( $line['variation'] ) && is_array( $line['variation'] ) ? $line['variation'] : array(),
				'quantity'     => (int) $line['quantity'],
			);
		}
		unset( $fields['consent'] );
		return array(
			'items'    => $items,
			'customer' => $fields,
		);
	}

	/**
	 * Puts the cart's id (and the opt-in) on the order, so storebridge
	 * recovers the cart when the order arrives.
	 *
	 * @param WC_Order $order The order being placed.
	 */
	public static function tag_order( $order ) {
		if ( ! WC()->session ) {
			return;
		}
		$id = WC()->session->get( self::SESSION_CART );
		if ( self::valid_cart_id( $id ) ) {
			$order->update_meta_data( self::META_CART, $id );
		}
		if ( 'checkbox' === StoreBridge_Settings::get()['consent'] && isset( $_POST['woocommerce-process-checkout-nonce'] ) ) { // phpcs:ignore WordPress.Security.NonceVerification.Missing -- WooCommerce verified its checkout nonce.
			$order->update_meta_data( self::META_OPTIN, empty( $_POST[ self::CONSENT ] ) ? 'no' : 'yes' ); // phpcs:ignore WordPress.Security.NonceVerification.Missing
		}
	}

	/**
	 * The order is placed: tells storebridge without waiting, and starts a
	 * new cart id for the customer's next cart.
	 *
	 * @param mixed $order The order or its id.
	 */
	public static function converted( $order ) {
		if ( ! WC()->session ) {
			return;
		}
		$id   = WC()->session->get( self::SESSION_CART );
		$sent = WC()->session->get( self::SESSION_SENT );
		WC()->session->set( self::SESSION_CART, null );
		WC()->session->set( self::SESSION_SENT, null );
		if ( ! self::valid_cart_id( $id ) || ! $sent ) {
			return;
		}
		$order_id = is_object( $order ) && method_exists( $order, 'get_id' ) ? $order->get_id() : (int) $order;
		StoreBridge_Client::send( self::ending( $id, 'converted', (string) $order_id ), false );
	}

	/**
	 * The customer emptied a captured cart: its reminders end.
	 */
	public static function maybe_emptied() {
		if ( ! WC()->session || ! WC()->cart || ! WC()->cart->is_empty() ) {
			return;
		}
		$id = WC()->session->get( self::SESSION_CART );
		if ( ! self::valid_cart_id( $id ) || ! WC()->session->get( self::SESSION_SENT ) ) {
			return;
		}
		// A cart filled again is a new cart, with reminders of its own.
		WC()->session->set( self::SESSION_CART, null );
		WC()->session->set( self::SESSION_SENT, null );
		StoreBridge_Client::send( self::ending( $id, 'emptied', '' ), false );
	}

	/**
	 * A capture that ends a cart.
	 *
	 * @param string $cart_id  The cart.
	 * @param string $status   converted or emptied.
	 * @param string $order_id The order it became, if any.
	 * @return array
	 */
	public static function ending( $cart_id, $status, $order_id ) {
		$payload = array(
			'id'         => $cart_id,
			'version'    => (int) floor( microtime( true ) * 1000 ),
			'updated_at' => gmdate( 'Y-m-d\TH:i:s\Z' ),
			'status'     => $status,
		);
		if ( '' !== $order_id ) {
			$payload['order_id'] = $order_id;
		}
		return $payload;
	}
}
