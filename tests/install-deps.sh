#!/bin/sh
# Installs what building and testing carapaced needs: Debian 12 packages
# only, as root. Safe to run again. groff-base: tests/test_docs formats
# the man pages with groff -ww; logrotate: tests/test_daemon runs the
# shipped logrotate snippet; openssl: the TLS tests make their
# certificates with it.
set -e
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
	build-essential autoconf automake pkg-config ca-certificates curl \
	libmicrohttpd-dev libcurl4-openssl-dev libjson-c-dev libcunit1-dev \
	libgnutls28-dev libsodium-dev openssl groff-base logrotate >/dev/null
# make analyze: cppcheck; scan-build (clang-tools, which brings clang-14)
apt-get install -y -qq --no-install-recommends cppcheck >/dev/null
apt-get install -y -qq --no-install-recommends clang-tools >/dev/null
# make fuzz: clang and its sanitizer and libFuzzer runtimes
sh "$(dirname "$0")/install-fuzz-deps.sh"
# nodejs and npm: make check-interop (tests/interop, the MCP TypeScript
# SDK; its packages come from the npm registry by npm ci). Debian's two
# packages, unless the nodejs installed already brings its own npm
# (NodeSource's nodejs does, and conflicts with Debian's npm): then that.
if ! dpkg-query -W -f='${Status} ${Provides}\n' nodejs 2>/dev/null |
	grep -q '^install ok installed.*[ ,]npm\(,\|$\)'; then
	apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
# make deb and tests/deb.sh: dpkg-buildpackage with dh (debhelper brings
# dh-autoreconf), lintian, man-db to render the installed man pages
apt-get install -y -qq --no-install-recommends dpkg-dev debhelper \
	lintian man-db >/dev/null
# valgrind: make check-valgrind (carapaced under memcheck); check-asan and
# check-tsan need nothing more: gcc's sanitizer runtimes come with gcc-12
apt-get install -y -qq --no-install-recommends valgrind >/dev/null
