<?php
/**
 * The call to storebridge: POST /api/v1/carts with the store token.
 *
 * @package StoreBridge_Cart_Capture
 */

defined( 'ABSPATH' ) || exit;

/**
 * Forwards captured carts to storebridge from the server, where the token
 * lives, with a short timeout: storebridge down never holds a customer up.
 */
final class StoreBridge_Client {
	/** Seconds a capture may take, all in, when its answer is awaited. */
	const TIMEOUT = 3;
	/** Seconds given to a capture nobody waits for (order placed, cart emptied). */
	const FIRE_TIMEOUT = 1;

	const FAILURE_OPTION = 'storebridge_cart_last_failure';
	const BACKOFF        = 'storebridge_cart_backoff';

	/** Refusals only a new token mends: captures stop until one is saved. */
	const TOKEN_REASONS = array( 'missing', 'invalid', 'expired', 'replaced', 'unauthorized' );

	/**
	 * Sends one capture.
	 *
	 * @param array $payload  The cart, as POST /api/v1/carts takes it.
	 * @param bool  $blocking Whether to wait for the answer (false: fire and forget).
	 * @return array{ok:bool,status:int,outcome:string,error:string,reason:string}
	 */
	public static function send( array $payload, $blocking = true ) {
		$result   = array(
			'ok'      => false,
			'status'  => 0,
			'outcome' => '',
			'error'   => '',
			'reason'  => '',
		);
		$settings = StoreBridge_Settings::get();
		if ( '' === $settings['url'] || '' === $settings['token'] ) {
			$result['error'] = 'not connected';
			return $result;
		}
		if ( self::blocked() ) {
			$result['error']  = 'storebridge refused the token; waiting for a new one';
			$result['reason'] = 'blocked';
			return $result;
		}
		if ( get_transient( self::BACKOFF ) ) {
			$result['error']  = 'storebridge asked to slow down';
			$result['reason'] = 'rate_limited';
			return $result;
		}
		$response = wp_remote_post(
			$settings['url'] . '/api/v1/carts',
			array(
				'timeout'     => $blocking ? self::TIMEOUT : self::FIRE_TIMEOUT,
				'redirection' => 0,
				'blocking'    => (bool) $blocking,
				'headers'     => array(
					'Authorization' => 'Bearer ' . $settings['token'],
					'Content-Type'  => 'application/json',
					'Accept'        => 'application/json',
					'User-Agent'    => 'storebridge-cart-capture/' . STOREBRIDGE_CART_VERSION,
				),
				'body'        => wp_json_encode( $payload ),
				'data_format' => 'body',
			)
		);
		if ( is_wp_error( $response ) ) {
			// Unreachable or too slow: the cart is captured again as the customer goes on.
			$result['error']  = 'storebridge could not be reached: ' . $response->get_error_message();
			$result['reason'] = 'unreachable';
			return $result;
		}
		if ( ! $blocking ) {
			$result['ok'] = true;
			return $result;
		}
		$status           = (int) wp_remote_retrieve_response_code( $response );
		$answer           = json_decode( (string) wp_remote_retrieve_body( $response ), true );
		$result['status'] = $status;
		if ( $status >= 200 && $status < 300 ) {
			$result['ok']      = true;
			$result['outcome'] = is_array( $answer ) && isset( $answer['outcome'] ) ? (string) $answer['outcome'] : '';
			return $result;
		}
		$result['error'] = is_array( $answer ) && isset( $answer['error'] ) ? (string) $answer['error'] : 'storebridge answered HTTP ' . $status;
		if ( 401 === $status ) {
			$result['reason'] = is_array( $answer ) && isset( $answer['fields']['token'] ) ? (string) $answer['fields']['token'] : 'unauthorized';
			self::note_failure( $result['reason'], $result['error'] );
		} elseif ( 429 === $status ) {
			$result['reason'] = 'rate_limited';
			$wait             = (int) wp_remote_retrieve_header( $response, 'retry-after' );
			set_transient( self::BACKOFF, 1, max( 1, min( $wait, 300 ) ) );
		} elseif ( 422 === $status ) {
			$result['reason'] = 'invalid_cart';
		}
		return $result;
	}

	/**
	 * Keeps a refusal for the settings page and the admin notice. The token
	 * itself is never kept in it.
	 *
	 * @param string $reason  Why (storebridge's fields.token: expired, replaced...).
	 * @param string $message storebridge's error, which says what to do.
	 */
	public static function note_failure( $reason, $message ) {
		update_option(
			self::FAILURE_OPTION,
			array(
				'reason'  => (string) $reason,
				'message' => (string) $message,
				'at'      => time(),
			),
			false
		);
	}

	/**
	 * Forgets the last refusal (a new token or address was saved).
	 */
	public static function clear_failure() {
		delete_option( self::FAILURE_OPTION );
		delete_transient( self::BACKOFF );
	}

	/**
	 * The last refusal kept, or an empty array.
	 *
	 * @return array
	 */
	public static function last_failure() {
		$failure = get_option( self::FAILURE_OPTION, array() );
		if ( ! is_array( $failure ) || empty( $failure['message'] ) ) {
			return array();
		}
		return array(
			'reason'  => isset( $failure['reason'] ) ? (string) $failure['reason'] : '',
			'message' => (string) $failure['message'],
			'at'      => isset( $failure['at'] ) ? (int) $failure['at'] : 0,
		);
	}

	/**
	 * Whether captures wait for a new token: storebridge refused this one.
	 *
	 * @return bool
	 */
	public static function blocked() {
		$failure = self::last_failure();
		return ! empty( $failure ) && in_array( $failure['reason'], self::TOKEN_REASONS, true );
	}
}
