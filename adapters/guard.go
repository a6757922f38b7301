package adapters

import (
	"net"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// nonPublic is every block IsPublic refuses. It follows IANA's IPv4 and
// IPv6 Special-Purpose Address Registries
// (https://www.iana.org/assignments/iana-ipv4-special-registry,
// https://www.iana.org/assignments/iana-ipv6-special-registry, read
// 2025): each block not "globally reachable", plus the few that are but
// never serve a merchant's API (AS112 DNS sinks, AMT relays, anycast
// service addresses). Forms that embed or translate an IPv4 address
// (compatible, mapped, NAT64, 6to4, Teredo) are refused whole: judging
// the embedded address would need a decoder per form, and no provider is
// reached that way.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),          // "this network"
	netip.MustParsePrefix("10.0.0.0/8"),         // private use
	netip.MustParsePrefix("100.64.0.0/10"),      // shared address space (CGN)
	netip.MustParsePrefix("127.0.0.0/8"),        // loopback
	netip.MustParsePrefix("169.254.0.0/16"),     // link local, cloud metadata
	netip.MustParsePrefix("172.16.0.0/12"),      // private use
	netip.MustParsePrefix("192.0.0.0/24"),       // IETF protocol assignments (DS-Lite, NAT64 discovery, PCP/TURN anycast)
	netip.MustParsePrefix("192.0.2.0/24"),       // documentation (TEST-NET-1)
	netip.MustParsePrefix("192.31.196.0/24"),    // AS112-v4
	netip.MustParsePrefix("192.52.193.0/24"),    // AMT
	netip.MustParsePrefix("192.88.99.0/24"),     // deprecated 6to4 relay anycast
	netip.MustParsePrefix("192.168.0.0/16"),     // private use
	netip.MustParsePrefix("192.175.48.0/24"),    // direct delegation AS112 service
	netip.MustParsePrefix("198.18.0.0/15"),      // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"),    // documentation (TEST-NET-2)
	netip.MustParsePrefix("203.0.113.0/24"),     // documentation (TEST-NET-3)
	netip.MustParsePrefix("224.0.0.0/4"),        // multicast
	netip.MustParsePrefix("240.0.0.0/4"),        // reserved
	netip.MustParsePrefix("255.255.255.255/32"), // limited broadcast

	netip.MustParsePrefix("::/128"),            // unspecified
	netip.MustParsePrefix("::1/128"),           // loopback
	netip.MustParsePrefix("::/96"),             // IPv4-compatible, deprecated (RFC 4291)
	netip.MustParsePrefix("::ffff:0:0/96"),     // IPv4-mapped
	netip.MustParsePrefix("64:ff9b::/96"),      // NAT64 well-known prefix
	netip.MustParsePrefix("64:ff9b:1::/48"),    // NAT64 local use
	netip.MustParsePrefix("100::/64"),          // discard only
	netip.MustParsePrefix("2001::/23"),         // IETF protocol assignments: Teredo 2001::/32, benchmarking 2001:2::/48, AMT, AS112, ORCHID
	netip.MustParsePrefix("2001:db8::/32"),     // documentation
	netip.MustParsePrefix("2002::/16"),         // 6to4
	netip.MustParsePrefix("2620:4f:8000::/48"), // direct delegation AS112 service
	netip.MustParsePrefix("3fff::/20"),         // documentation
	netip.MustParsePrefix("5f00::/16"),         // SRv6 SIDs
	netip.MustParsePrefix("fc00::/7"),          // unique local
	netip.MustParsePrefix("fe80::/10"),         // link local
	netip.MustParsePrefix("fec0::/10"),         // site local, deprecated (RFC 3879)
	netip.MustParsePrefix("ff00::/8"),          // multicast
}

// globalUnicast6 is the only IPv6 space IANA allocates for global unicast
// (IPv6 Address Space registry); the rest is reserved by the IETF, so a
// block added there later is refused before this table learns of it.
var globalUnicast6 = netip.MustParsePrefix("2000::/3")

// IsPublic reports whether addr may be called in production: a unicast
// address outside every special-purpose block. The URL check (CheckURL)
// and the dialer (NewHTTPClient) both judge by it.
func IsPublic(addr netip.Addr) bool {
	// A zone makes Prefix.Contains answer false, so it is refused first;
	// zones only name scoped (link-local) addresses anyway.
	if !addr.IsValid() || addr.Zone() != "" {
		return false
	}
	// No Unmap: an IPv4-mapped literal is refused with ::ffff:0:0/96.
	if addr.Is6() && !globalUnicast6.Contains(addr) {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(addr) {
			return false
		}
	}
	return true
}

// refuseNonPublic is the dialer's Control hook: it runs after DNS, on the
// address about to be connected, so a name that resolves (or rebinds) to
// a non-public address is refused too.
func refuseNonPublic(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return ErrForbiddenAddress
	}
	addr, err := netip.ParseAddr(host)
	if err != nil || !IsPublic(addr) {
		return ErrForbiddenAddress
	}
	return nil
}

// privateSuffixes are names that never lead to a merchant's public API:
// this host (RFC 6761 localhost, the localdomain convention), multicast
// DNS (RFC 6762 .local), home networks (RFC 8375 home.arpa), ICANN's
// private-use .internal, and the private TLDs RFC 6762 Appendix G lists.
var privateSuffixes = []string{
	"localhost", "localdomain", "local", "home.arpa", "internal",
	"intranet", "private", "corp", "home", "lan",
}

// publicHost reports whether host, a URL's Hostname(), may be called in
// production. Names are refused when they are single-label (completed by
// search domains) or under a private suffix; whether a name resolves to a
// public address is the dialer's question.
func publicHost(host string) bool {
	// net/http maps a non-ASCII host with this same profile before it
	// dials, so ⓛocalhost and 127.0.0.① are judged as what they become.
	if strings.ContainsFunc(host, func(r rune) bool { return r >= utf8.RuneSelf }) {
		ascii, err := idna.Lookup.ToASCII(host)
		if err != nil {
			return false
		}
		host = ascii
	}
	name := strings.ToLower(strings.TrimSuffix(host, "."))
	if addr, err := netip.ParseAddr(name); err == nil {
		return IsPublic(addr)
	}
	labels := strings.Split(name, ".")
	if len(labels) < 2 || slices.Contains(labels, "") || strings.ContainsAny(name, ":%[]") {
		return false
	}
	// A host whose last label is a number is an IPv4 address to the WHATWG
	// URL parser, curl and inet_aton, which also read 127.1, 0x7f.1 and
	// 2130706433 as 127.0.0.1, as does getaddrinfo when Go's resolver
	// hands a name to the system. Every such form but the canonical dotted
	// quad (parsed above) is refused rather than decoded: no real name
	// ends in a number, and a second IPv4 parser is one more to get wrong.
	if numeric(labels[len(labels)-1]) {
		return false
	}
	for _, s := range privateSuffixes {
		if name == s || strings.HasSuffix(name, "."+s) {
			return false
		}
	}
	return true
}

// numeric reports whether label is decimal digits or 0x and hex digits,
// the WHATWG URL standard's "ends in a number" test.
func numeric(label string) bool {
	digits := "0123456789"
	if rest, ok := strings.CutPrefix(label, "0x"); ok {
		label, digits = rest, "0123456789abcdef"
		if label == "" {
			return true
		}
	}
	return label != "" && strings.Trim(label, digits) == ""
}
