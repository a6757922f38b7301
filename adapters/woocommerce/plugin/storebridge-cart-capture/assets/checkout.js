/**
 * storebridge cart capture: sends the checkout's contact fields to this
 * store as the customer types (debounced), once the phone or the email is
 * valid and, when the merchant asks for it, the WhatsApp box is ticked.
 * The store reads the cart itself and forwards it to storebridge; nothing
 * here waits for an answer or stands in the checkout's way.
 */
(function () {
	'use strict';
	var cfg = window.storebridgeCart;
	if (!cfg || !window.fetch || !window.URLSearchParams) {
		return;
	}
	var DEBOUNCE_MS = 800;
	// Classic checkout ids first, then the block checkout's.
	var FIELDS = {
		email: ['billing_email', 'email'],
		phone: ['billing_phone', 'billing-phone', 'shipping_phone', 'shipping-phone'],
		first_name: ['billing_first_name', 'billing-first_name', 'shipping_first_name', 'shipping-first_name'],
		last_name: ['billing_last_name', 'billing-last_name', 'shipping_last_name', 'shipping-last_name'],
		country: ['billing_country', 'billing-country', 'shipping_country', 'shipping-country']
	};
	var timer = null;
	var lastSent = '';
	var consented = false;

	function value(ids) {
		for (var i = 0; i < ids.length; i++) {
			var el = document.getElementById(ids[i]);
			if (el && typeof el.value === 'string' && el.value.trim() !== '') {
				return el.value.trim();
			}
		}
		return '';
	}

	function validEmail(s) {
		return /^[^\s@]+@[^\s@]+\.[^\s@]{2,}$/.test(s);
	}

	function validPhone(s) {
		var digits = s.replace(/\D/g, '');
		return /^[+\d\s().\-]+$/.test(s) && digits.length >= 7 && digits.length <= 15;
	}

	function box() {
		return document.getElementById(cfg.field);
	}

	// The block checkout renders no PHP hook's field: add the same box.
	function ensureBox() {
		if (cfg.consent !== 'checkbox' || box()) {
			return;
		}
		var anchor = document.getElementById('billing-phone') || document.getElementById('shipping-phone') || document.getElementById('email');
		var wrap = anchor && (anchor.closest('.wc-block-components-text-input') || anchor.parentNode);
		if (!wrap || !wrap.parentNode) {
			return;
		}
		var label = document.createElement('label');
		label.className = 'storebridge-optin';
		label.style.display = 'block';
		label.style.margin = '8px 0';
		var input = document.createElement('input');
		input.type = 'checkbox';
		input.id = cfg.field;
		input.name = cfg.field;
		label.appendChild(input);
		label.appendChild(document.createTextNode(' ' + cfg.label));
		wrap.parentNode.insertBefore(label, wrap.nextSibling);
	}

	function send(fields) {
		var body = new URLSearchParams();
		body.append('action', cfg.action);
		body.append('nonce', cfg.nonce);
		Object.keys(fields).forEach(function (k) {
			body.append(k, fields[k]);
		});
		// keepalive: a capture started as the customer leaves still goes.
		window.fetch(cfg.ajaxUrl, { method: 'POST', credentials: 'same-origin', body: body, keepalive: true }).catch(function () {});
	}

	function flush() {
		ensureBox();
		var fields = {
			email: value(FIELDS.email),
			phone: value(FIELDS.phone),
			first_name: value(FIELDS.first_name),
			last_name: value(FIELDS.last_name),
			country: value(FIELDS.country)
		};
		if (!validEmail(fields.email)) {
			fields.email = '';
		}
		if (!validPhone(fields.phone)) {
			fields.phone = '';
		}
		if (fields.email === '' && fields.phone === '') {
			return;
		}
		if (cfg.consent === 'checkbox') {
			var b = box();
			if (!b || !b.checked) {
				if (consented) { // ticked, then unticked: say so once
					consented = false;
					lastSent = '';
					fields.consent = '0';
					send(fields);
				}
				return;
			}
			consented = true;
			fields.consent = '1';
		}
		var key = JSON.stringify(fields);
		if (key === lastSent) {
			return;
		}
		lastSent = key;
		send(fields);
	}

	function schedule() {
		window.clearTimeout(timer);
		timer = window.setTimeout(flush, DEBOUNCE_MS);
	}

	document.addEventListener('input', schedule, true);
	document.addEventListener('change', schedule, true);
	if (window.jQuery) {
		// The classic checkout reloads its totals after cart changes.
		window.jQuery(document.body).on('updated_checkout', schedule);
	}
	if (document.readyState === 'loading') {
		document.addEventListener('DOMContentLoaded', schedule);
	} else {
		schedule();
	}
})();
