<?php
/**
 * The settings page: WooCommerce → storebridge.
 *
 * @package StoreBridge_Cart_Capture
 */

defined( 'ABSPATH' ) || exit;

/**
 * Keeps the connection (storebridge's address and the store token) and the
 * consent choice, and shows the last refusal with its fix.
 */
final class StoreBridge_Settings {
	const OPTION     = 'storebridge_cart_settings';
	const GROUP      = 'storebridge_cart';
	const PAGE       = 'storebridge-cart-capture';
	const CAPABILITY = 'manage_woocommerce';

	/**
	 * Registers the page, the setting and the notice.
	 */
	public static function hooks() {
		add_action( 'admin_menu', array( __CLASS__, 'menu' ) );
		add_action( 'admin_init', array( __CLASS__, 'register' ) );
		add_action( 'admin_notices', array( __CLASS__, 'notice' ) );
		// options.php asks for manage_options by default; shop managers run the shop.
		add_filter( 'option_page_capability_' . self::GROUP, array( __CLASS__, 'capability' ) );
	}

	/**
	 * The settings in force, with defaults.
	 *
	 * @return array{url:string,token:string,consent:string,consent_label:string}
	 */
	public static function get() {
		$saved = get_option( self::OPTION, array() );
		if ( ! is_array( $saved ) ) {
			$saved = array();
		}
		return array(
			'url'           => isset( $saved['url'] ) ? (string) $saved['url'] : '',
			'token'         => isset( $saved['token'] ) ? (string) $saved['token'] : '',
			'consent'       => isset( $saved['consent'] ) && 'checkbox' === $saved['consent'] ? 'checkbox' : 'none',
			'consent_label' => isset( $saved['consent_label'] ) && '' !== $saved['consent_label'] ? (string) $saved['consent_label'] : self::default_label(),
		);
	}

	/**
	 * Whether the plugin has somewhere to send carts to.
	 *
	 * @return bool
	 */
	public static function connected() {
		$s = self::get();
		return '' !== $s['url'] && '' !== $s['token'];
	}

	/**
	 * The checkbox's default wording.
	 *
	 * @return string
	 */
	public static function default_label() {
		return __( 'Send me my cart and order updates on WhatsApp', 'storebridge-cart-capture' );
	}

	/**
	 * The capability the page and its form need.
	 *
	 * @return string
	 */
	public static function capability() {
		return self::CAPABILITY;
	}

	/**
	 * Adds WooCommerce → storebridge.
	 */
	public static function menu() {
		add_submenu_page( 'woocommerce', __( 'storebridge', 'storebridge-cart-capture' ), __( 'storebridge', 'storebridge-cart-capture' ), self::CAPABILITY, self::PAGE, array( __CLASS__, 'render' ) );
	}

	/**
	 * Registers the option with its sanitizer.
	 */
	public static function register() {
		register_setting(
			self::GROUP,
			self::OPTION,
			array(
				'type'              => 'array',
				'sanitize_callback' => array( __CLASS__, 'sanitize' ),
				'show_in_rest'      => false,
			)
		);
	}

	/**
	 * Cleans what the form sent. A blank token keeps the saved one; a new
	 * token or address clears the last refusal, so capture starts again.
	 *
	 * @param mixed $input The form's values.
	 * @return array
	 */
	public static function sanitize( $input ) {
		$old = self::get();
		$in  = is_array( $input ) ? $input : array();
		$out = $old;

		$url = isset( $in['url'] ) ? esc_url_raw( trim( (string) $in['url'] ), array( 'https', 'http' ) ) : $old['url'];
		$out['url'] = untrailingslashit( $url );

		$token = isset( $in['token'] ) ? trim( (string) $in['token'] ) : '';
		if ( '' !== $token ) {
			if ( preg_match( '/^[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+$/', $token ) ) {
				$out['token'] = $token;
			} else {
				add_settings_error( self::OPTION, 'token', __( 'That is not a storebridge connection token: copy it again from storebridge → Cart capture.', 'storebridge-cart-capture' ) );
			}
		}

		$out['consent']       = isset( $in['consent'] ) && 'checkbox' === $in['consent'] ? 'checkbox' : 'none';
		$label                = isset( $in['consent_label'] ) ? sanitize_text_field( (string) $in['consent_label'] ) : '';
		$out['consent_label'] = '' !== $label ? $label : self::default_label();

		if ( $out['token'] !== $old['token'] || $out['url'] !== $old['url'] ) {
			StoreBridge_Client::clear_failure();
		}
		return $out;
	}

	/**
	 * Tells shop managers, on every admin screen, that carts are not
	 * captured because storebridge refused the token.
	 */
	public static function notice() {
		if ( ! current_user_can( self::CAPABILITY ) || ! StoreBridge_Client::blocked() ) {
			return;
		}
		$failure = StoreBridge_Client::last_failure();
		$link    = admin_url( 'admin.php?page=' . self::PAGE );
		printf(
			'<div class="notice notice-error"><p><strong>%1$s</strong> %2$s <a href="%3$s">%4$s</a></p></div>',
			esc_html__( 'storebridge is not capturing carts:', 'storebridge-cart-capture' ),
			esc_html( $failure['message'] ),
			esc_url( $link ),
			esc_html__( 'Paste a new token', 'storebridge-cart-capture' )
		);
	}

	/**
	 * The page itself.
	 */
	public static function render() {
		if ( ! current_user_can( self::CAPABILITY ) ) {
			wp_die( esc_html__( 'You are not allowed to change storebridge.', 'storebridge-cart-capture' ) );
		}
		$s       = self::get();
		$failure = StoreBridge_Client::last_failure();
		?>
		<div class="wrap">
			<h1><?php esc_html_e( 'storebridge cart capture', 'storebridge-cart-capture' ); ?></h1>
			<p><?php esc_html_e( 'Captures the checkout as customers type, so storebridge can remind them on WhatsApp of the cart they left. Checkout never waits for storebridge.', 'storebridge-cart-capture' ); ?></p>
			<?php if ( $failure ) : ?>
				<div class="notice notice-<?php echo StoreBridge_Client::blocked() ? 'error' : 'warning'; ?> inline">
					<p>
						<strong><?php echo esc_html( sprintf( /* translators: %s: date and time */ __( 'Last refusal (%s):', 'storebridge-cart-capture' ), wp_date( get_option( 'date_format' ) . ' ' . get_option( 'time_format' ), (int) $failure['at'] ) ) ); ?></strong>
						<?php echo esc_html( $failure['message'] ); ?>
					</p>
					<?php if ( StoreBridge_Client::blocked() ) : ?>
						<p><?php esc_html_e( 'Carts are not sent until you paste a new token: generate a new token in storebridge → Cart capture, then paste it below and save.', 'storebridge-cart-capture' ); ?></p>
					<?php endif; ?>
				</div>
			<?php endif; ?>
			<?php settings_errors( self::OPTION ); ?>
			<form method="post" action="options.php">
				<?php settings_fields( self::GROUP ); ?>
				<table class="form-table" role="presentation">
					<tr>
						<th scope="row"><label for="storebridge-url"><?php esc_html_e( 'storebridge URL', 'storebridge-cart-capture' ); ?></label></th>
						<td><input type="url" class="regular-text code" id="storebridge-url" name="<?php echo esc_attr( self::OPTION ); ?>[url]" value="<?php echo esc_attr( $s['url'] ); ?>" placeholder="https://storebridge.example.com" required>
						<p class="description"><?php esc_html_e( 'As storebridge → Cart capture shows it.', 'storebridge-cart-capture' ); ?></p></td>
					</tr>
					<tr>
						<th scope="row"><label for="storebridge-token"><?php esc_html_e( 'Connection token', 'storebridge-cart-capture' ); ?></label></th>
						<td><input type="password" class="regular-text code" id="storebridge-token" name="<?php echo esc_attr( self::OPTION ); ?>[token]" value="" autocomplete="off" placeholder="<?php echo '' !== $s['token'] ? esc_attr__( 'saved: leave blank to keep it', 'storebridge-cart-capture' ) : ''; ?>">
						<p class="description"><?php esc_html_e( 'Generate it in storebridge → Cart capture. It stays on this server: shoppers\' browsers never see it.', 'storebridge-cart-capture' ); ?></p></td>
					</tr>
					<tr>
						<th scope="row"><?php esc_html_e( 'WhatsApp consent', 'storebridge-cart-capture' ); ?></th>
						<td><fieldset>
							<label><input type="radio" name="<?php echo esc_attr( self::OPTION ); ?>[consent]" value="none" <?php checked( 'none', $s['consent'] ); ?>> <?php esc_html_e( 'No checkbox: capture every checkout (consent comes from elsewhere, as storebridge\'s marketing consent setting says)', 'storebridge-cart-capture' ); ?></label><br>
							<label><input type="radio" name="<?php echo esc_attr( self::OPTION ); ?>[consent]" value="checkbox" <?php checked( 'checkbox', $s['consent'] ); ?>> <?php esc_html_e( 'A checkbox on checkout: capture only customers who tick it', 'storebridge-cart-capture' ); ?></label>
						</fieldset></td>
					</tr>
					<tr>
						<th scope="row"><label for="storebridge-label"><?php esc_html_e( 'Checkbox wording', 'storebridge-cart-capture' ); ?></label></th>
						<td><input type="text" class="regular-text" id="storebridge-label" name="<?php echo esc_attr( self::OPTION ); ?>[consent_label]" value="<?php echo esc_attr( $s['consent_label'] ); ?>"></td>
					</tr>
				</table>
				<?php submit_button(); ?>
			</form>
		</div>
		<?php
	}
}
