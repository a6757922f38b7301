<?php
/**
 * Runs the plugin's capture and forwarding code under PHP CLI, outside
 * WordPress: the few WordPress and WooCommerce functions it calls are
 * stubbed here, and wp_remote_post makes real HTTP requests (PHP streams).
 *
 * Reads a JSON spec on stdin: {"plugin": dir, "options": {...}, "steps": [...]}
 * and prints {"steps": [...results], "options": {...}, "requests": [...]}.
 */

define( 'ABSPATH', __DIR__ . '/' );
define( 'DAY_IN_SECONDS', 86400 );

$GLOBALS['sb_options']    = array();
$GLOBALS['sb_transients'] = array();
$GLOBALS['sb_requests']   = array();
$GLOBALS['sb_errors']     = array();

class WP_Error {
	private $message;
	public function __construct( $code = '', $message = '' ) {
		$this->message = $message;
	}
	public function get_error_message() {
		return $this->message;
	}
}

function add_action( ...$args ) {}
function add_filter( ...$args ) {}
function register_activation_hook( ...$args ) {}
function __( $text, $domain = '' ) {
	return $text;
}
function get_option( $name, $default = false ) {
	return array_key_exists( $name, $GLOBALS['sb_options'] ) ? $GLOBALS['sb_options'][ $name ] : $default;
}
function update_option( $name, $value, $autoload = null ) {
	$GLOBALS['sb_options'][ $name ] = $value;
	return true;
}
function delete_option( $name ) {
	unset( $GLOBALS['sb_options'][ $name ] );
	return true;
}
function get_transient( $name ) {
	$t = $GLOBALS['sb_transients'][ $name ] ?? null;
	return ( null === $t || $t['expires'] < time() ) ? false : $t['value'];
}
function set_transient( $name, $value, $ttl ) {
	$GLOBALS['sb_transients'][ $name ] = array(
		'value'   => $value,
		'expires' => time() + $ttl,
	);
	return true;
}
function delete_transient( $name ) {
	unset( $GLOBALS['sb_transients'][ $name ] );
	return true;
}
function add_settings_error( $setting, $code, $message ) {
	$GLOBALS['sb_errors'][] = $message;
}
function wp_json_encode( $data ) {
	return json_encode( $data, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE );
}
function esc_url_raw( $url, $protocols = array( 'http', 'https' ) ) {
	$scheme = strtolower( (string) parse_url( $url, PHP_URL_SCHEME ) );
	return in_array( $scheme, $protocols, true ) ? $url : '';
}
function untrailingslashit( $s ) {
	return rtrim( $s, '/\\' );
}
function sanitize_text_field( $s ) {
	$s = strip_tags( (string) $s );
	$s = preg_replace( '/[\r\n\t ]+/', ' ', $s );
	return trim( $s );
}
function sanitize_email( $s ) {
	return preg_replace( '/[^a-zA-Z0-9.!#$%&\'*+\/=?^_`{|}~@-]/', '', (string) $s );
}
function is_email( $s ) {
	return false !== filter_var( $s, FILTER_VALIDATE_EMAIL ) ? $s : false;
}
function wp_strip_all_tags( $s ) {
	return trim( strip_tags( $s ) );
}
function home_url( $path = '' ) {
	return rtrim( $GLOBALS['sb_home'], '/' ) . $path;
}
function add_query_arg( array $args, $url ) {
	return $url . ( false === strpos( $url, '?' ) ? '?' : '&' ) . http_build_query( $args, '', '&', PHP_QUERY_RFC3986 );
}
function is_wp_error( $thing ) {
	return $thing instanceof WP_Error;
}
function wp_remote_post( $url, array $args ) {
	$headers = '';
	foreach ( $args['headers'] as $k => $v ) {
		$headers .= $k . ': ' . $v . "\r\n";
	}
	$GLOBALS['sb_requests'][] = array(
		'url'     => $url,
		'headers' => $args['headers'],
		'body'    => $args['body'],
		'timeout' => $args['timeout'],
	);
	ini_set( 'default_socket_timeout', (string) $args['timeout'] );
	$context = stream_context_create(
		array(
			'http' => array(
				'method'          => 'POST',
				'header'          => $headers,
				'content'         => $args['body'],
				'timeout'         => (float) $args['timeout'],
				'ignore_errors'   => true,
				'follow_location' => 0,
			),
		)
	);
	$http_response_header = array();
	$body = @file_get_contents( $url, false, $context );
	if ( false === $body ) {
		$last = error_get_last();
		return new WP_Error( 'http_request_failed', $last ? $last['message'] : 'request failed' );
	}
	$code    = 0;
	$headers = array();
	foreach ( $http_response_header as $i => $line ) {
		if ( 0 === $i && preg_match( '#^HTTP/\S+ (\d{3})#', $line, $m ) ) {
			$code = (int) $m[1];
		} elseif ( false !== strpos( $line, ':' ) ) {
			list( $k, $v )               = explode( ':', $line, 2 );
			$headers[ strtolower( $k ) ] = trim( $v );
		}
	}
	if ( empty( $args['blocking'] ) ) {
		return array(
			'response' => array( 'code' => false ),
			'body'     => '',
			'headers'  => array(),
		);
	}
	return array(
		'response' => array( 'code' => $code ),
		'body'     => $body,
		'headers'  => $headers,
	);
}
function wp_remote_retrieve_response_code( $r ) {
	return $r['response']['code'];
}
function wp_remote_retrieve_body( $r ) {
	return $r['body'];
}
function wp_remote_retrieve_header( $r, $name ) {
	return $r['headers'][ strtolower( $name ) ] ?? '';
}


function wp_unslash( $v ) {
	return $v;
}
function absint( $v ) {
	return abs( (int) $v );
}
/** WooCommerce's wc_format_coupon_code, as WooCommerce 8 writes it. */
function wc_format_coupon_code( $value ) {
	return strtolower( trim( html_entity_decode( sanitize_text_field( (string) $value ), ENT_QUOTES, 'UTF-8' ) ) );
}
function get_woocommerce_currency() {
	return 'INR';
}
function check_ajax_referer( $action, $field, $die = true ) {
	return isset( $_POST[ $field ] ) && 'valid-nonce-' . $action === $_POST[ $field ] ? 1 : false;
}
/** wp_send_json_* end the request: the harness catches them. */
class SB_Json_Sent extends Exception {
	public $success;
	public $data;
	public $status;
	public function __construct( $success, $data, $status ) {
		parent::__construct( 'json sent' );
		$this->success = $success;
		$this->data    = $data;
		$this->status  = $status;
	}
}
function wp_send_json_success( $data = null, $status = 200 ) {
	throw new SB_Json_Sent( true, $data, $status );
}
function wp_send_json_error( $data = null, $status = 200 ) {
	throw new SB_Json_Sent( false, $data, $status );
}

/** WooCommerce's session: a map. */
class SB_Fake_Session {
	public $data = array();
	public function get( $key, $default = null ) {
		return $this->data[ $key ] ?? $default;
	}
	public function set( $key, $value ) {
		$this->data[ $key ] = $value;
	}
}

/** WC_Customer's setters, recorded. */
class SB_Fake_Customer {
	public $set = array();
	public function __call( $name, $args ) {
		$this->set[ $name ] = $args[0] ?? null;
	}
}

/** WC_Order's meta, recorded. */
class SB_Fake_Order {
	public $meta = array();
	public function update_meta_data( $key, $value ) {
		$this->meta[ $key ] = $value;
	}
	public function get_id() {
		return 727;
	}
}

/** WooCommerce() with its cart, session and customer. */
class SB_Fake_WC {
	public $cart;
	public $session;
	public $customer;
}
function WC() {
	return $GLOBALS['sb_wc'];
}

/** A WC_Product's two methods the payload reads. */
class SB_Fake_Product {
	private $name;
	private $price;
	public function __construct( $name, $price ) {
		$this->name  = $name;
		$this->price = $price;
	}
	public function get_name() {
		return $this->name;
	}
	public function get_price() {
		return $this->price;
	}
}

/** A WC_Cart's two methods the payload reads. */
class SB_Fake_Cart {
	private $lines = array();
	private $total;
	public function __construct( array $spec ) {
		foreach ( $spec['lines'] as $i => $line ) {
			$this->lines[ 'k' . $i ] = array(
				'data'         => new SB_Fake_Product( $line['name'], $line['price'] ),
				'quantity'     => $line['quantity'],
				'product_id'   => $line['product_id'] ?? 0,
				'variation_id' => $line['variation_id'] ?? 0,
				'variation'    => $line['variation'] ?? array(),
			);
		}
		$this->total = $spec['total'];
	}
	public function get_cart() {
		return $this->lines;
	}
	public function get_total( $context = 'view' ) {
		return $this->total;
	}
	public function is_empty() {
		return empty( $this->lines );
	}
	public $added = array();
	/** The codes the store holds, as WC_Coupon's checks would pass them. */
	public $valid_codes = array();
	public $applied     = array();
	public $refused     = array();
	public function empty_cart( $clear_persistent = true ) {
		$this->lines   = array();
		$this->added   = array();
		$this->applied = array();
	}
	public function has_discount( $code ) {
		return in_array( $code, $this->applied, true );
	}
	public function apply_coupon( $code ) {
		if ( ! in_array( $code, $this->valid_codes, true ) ) {
			$this->refused[] = $code;
			return false;
		}
		$this->applied[] = $code;
		return true;
	}
	public function add_to_cart( $product_id, $quantity, $variation_id = 0, $variation = array() ) {
		$this->added[] = array(
			'product_id'   => $product_id,
			'quantity'     => $quantity,
			'variation_id' => $variation_id,
			'variation'    => $variation,
		);
		return 'key';
	}
}

$spec                = json_decode( stream_get_contents( STDIN ), true );
$GLOBALS['sb_home']  = $spec['home'];
$GLOBALS['sb_options'] = $spec['options'] ?? array();
require $spec['plugin'] . '/storebridge-cart-capture.php';

$GLOBALS['sb_wc']           = new SB_Fake_WC();
$GLOBALS['sb_wc']->session  = new SB_Fake_Session();
$GLOBALS['sb_wc']->customer = new SB_Fake_Customer();
$GLOBALS['sb_wc']->cart     = new SB_Fake_Cart( array( 'lines' => array(), 'total' => 0 ) );

$out = array();
foreach ( $spec['steps'] as $step ) {
	$started = microtime( true );
	$before  = count( $GLOBALS['sb_requests'] );
	$result  = array();
	switch ( $step['op'] ) {
		case 'capture':
			$fields = StoreBridge_Capture::fields_from_request( $step['request'] );
			if ( null === $fields ) {
				$result = array( 'skipped' => true );
				break;
			}
			$cart    = new SB_Fake_Cart( $step['cart'] );
			$payload = StoreBridge_Capture::build_payload( $step['cart_id'], $fields, $cart, $step['currency'] );
			if ( isset( $step['version'] ) ) {
				$payload['version'] = $step['version'];
			}
			StoreBridge_Restore::keep( $step['cart_id'], StoreBridge_Capture::snapshot( $cart, $fields ) );
			$result            = StoreBridge_Client::send( $payload );
			$result['payload'] = $payload;
			break;
		case 'ending':
			$result = StoreBridge_Client::send( StoreBridge_Capture::ending( $step['cart_id'], $step['status'], $step['order_id'] ?? '' ), $step['blocking'] ?? true );
			break;
		case 'verify':
			parse_str( (string) parse_url( $step['url'], PHP_URL_QUERY ), $q );
			$result = array(
				'valid'    => StoreBridge_Restore::verify( $q['storebridge_restore'] ?? '', $q['exp'] ?? '', $q['sig'] ?? '' ),
				'snapshot' => StoreBridge_Restore::snapshot( $q['storebridge_restore'] ?? '' ),
			);
			break;
		case 'ajax': // the store's capture endpoint, as the checkout script calls it
			WC()->cart = new SB_Fake_Cart( $step['cart'] );
			$_POST     = $step['post'];
			try {
				StoreBridge_Capture::ajax();
				$result = array( 'answered' => false );
			} catch ( SB_Json_Sent $sent ) {
				$result = array(
					'answered' => true,
					'success'  => $sent->success,
					'data'     => $sent->data,
					'code'     => $sent->status,
				);
			}
			$result['session'] = (object) WC()->session->data;
			break;
		case 'restore': // following a recovery link on another device
			$link = $step['url'];
			if ( 'last' === $link ) { // the link of the last capture sent
				$last = end( $GLOBALS['sb_requests'] );
				$link = json_decode( $last['body'], true )['recovery_url'];
			}
			// What storebridge adds to the link, then what a customer changes.
			$link .= $step['append'] ?? '';
			foreach ( $step['replace'] ?? array() as $pair ) {
				$link = str_replace( $pair[0], $pair[1], $link );
			}
			$result['url'] = $link;
			parse_str( (string) parse_url( $link, PHP_URL_QUERY ), $q );
			$id                          = $q['storebridge_restore'] ?? '';
			WC()->session                = new SB_Fake_Session();
			WC()->customer               = new SB_Fake_Customer();
			WC()->cart                   = new SB_Fake_Cart( array( 'lines' => array(), 'total' => 0 ) );
			WC()->cart->valid_codes      = $step['coupons'] ?? array();
			$result['valid']             = StoreBridge_Restore::follow( $q );
			$result['added']    = WC()->cart->added;
			$result['applied']  = WC()->cart->applied;
			$result['refused']  = WC()->cart->refused;
			$result['customer'] = (object) WC()->customer->set;
			$result['session']  = (object) WC()->session->data;
			break;
		case 'order': // the order is placed: meta, then the conversion
			$order          = new SB_Fake_Order();
			$_POST          = $step['post'] ?? array();
			StoreBridge_Capture::tag_order( $order );
			StoreBridge_Capture::converted( $order );
			$result['meta']    = (object) $order->meta;
			$result['session'] = (object) WC()->session->data;
			break;
		case 'empty': // the customer removes the last line
			WC()->cart = new SB_Fake_Cart( array( 'lines' => array(), 'total' => 0 ) );
			StoreBridge_Capture::maybe_emptied();
			$result['session'] = (object) WC()->session->data;
			break;
		case 'save_settings':
			update_option( StoreBridge_Settings::OPTION, StoreBridge_Settings::sanitize( $step['input'] ) );
			$result = array(
				'settings' => StoreBridge_Settings::get(),
				'errors'   => $GLOBALS['sb_errors'],
			);
			break;
	}
	$result['blocked']  = StoreBridge_Client::blocked();
	$result['failure']  = (object) StoreBridge_Client::last_failure();
	$result['requests'] = count( $GLOBALS['sb_requests'] ) - $before;
	$result['seconds']  = microtime( true ) - $started;
	$out[]              = $result;
}
echo json_encode(
	array(
		'steps'    => $out,
		'requests' => $GLOBALS['sb_requests'],
	),
	JSON_UNESCAPED_SLASHES
);
