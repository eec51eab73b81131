#!/bin/sh
# Installs what make fuzz needs on top of tests/install-deps.sh: Debian 12
# packages only, as root. Safe to run again. clang-14 compiles the
# targets and libclang-rt-14-dev holds the runtimes of
# -fsanitize=fuzzer,address,undefined (libFuzzer itself is
# libclang_rt.fuzzer-x86_64.a there; Debian's separate libfuzzer-14-dev
# is for linking libFuzzer.a by hand, which the build does not do).
set -e
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# clang: the name configure is given (CC=clang), Debian 12's clang-14
apt-get install -y -qq --no-install-recommends \
	clang libclang-rt-14-dev >/dev/null
