#!/bin/sh
# Installs what building and testing carapaced needs: Debian 12 packages
# only, as root. Safe to run again.
set -e
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
	build-essential autoconf automake pkg-config ca-certificates curl \
	libmicrohttpd-dev libcurl4-openssl-dev libjson-c-dev libcunit1-dev \
	groff-base >/dev/null
