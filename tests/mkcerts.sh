#!/bin/sh
# mkcerts.sh DIR - the certificates test_tls and bench/tls use, made anew in
# DIR with the openssl CLI (P-256 keys, valid two days):
#   ca         the server's CA; server (serial 1001, CN 127.0.0.1) and
#              server2 (serial 2002, CN renewed.localhost, the renewal),
#              both for IP 127.0.0.1 and DNS localhost
#   clientca   the client CA; client (CN agent-7.example, DNS agent-7.alt)
#   otherca    another CA; stranger (the same names, signed by otherca)
set -e
cd "$1"
ca() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$1.key" -out "$1.pem" -days 2 -subj "/CN=$2" \
		-addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}
# leaf NAME CN CA EKU SAN SERIAL
leaf() {
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$1.key" -out "$1.csr" -subj "/CN=$2" 2>/dev/null
	printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=%s\nsubjectAltName=%s\n' \
		"$4" "$5" >"$1.ext"
	openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" \
		-set_serial "$6" -days 2 -extfile "$1.ext" -out "$1.pem" \
		2>/dev/null
}
ca ca "carapace test CA"
ca clientca "carapace test client CA"
ca otherca "another CA"
leaf server 127.0.0.1 ca serverAuth "IP:127.0.0.1,DNS:localhost" 1001
leaf server2 renewed.localhost ca serverAuth "IP:127.0.0.1,DNS:localhost" 2002
leaf client agent-7.example clientca clientAuth "DNS:agent-7.alt" 3003
leaf stranger agent-7.example otherca clientAuth "DNS:agent-7.alt" 4004
chmod 0644 ./*.pem ./*.key
