#!/usr/bin/env bash
# Set-up entry points for a fresh Debian 12 machine (run as root):
#   contrib/setup.sh demo   install what is missing, build, run the demo (etcd + API stand-ins)
#   contrib/setup.sh test   install what is missing, build, run the whole suite, then again
#                           under AddressSanitizer + UndefinedBehaviorSanitizer, then the
#                           fuzz targets for a bounded time
#   contrib/setup.sh deps   only install the packages
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DEPS="cmake gcc make pkg-config libevent-dev libssl-dev libyaml-dev libcjson-dev libcmocka-dev \
    libpq-dev libmariadb-dev dpkg-dev"
FUZZ_DEPS="clang libclang-rt-14-dev"
# What the demo runs: etcd, Python and k3lb (with openssl for its certificates).
DEMO_DEPS="openssl python3 etcd-server etcd-client curl procps"
RUN_DEPS="openssl python3 python3-pytest etcd-server etcd-client iproute2 curl procps \
    postgresql mariadb-server prometheus keepalived python3-yaml systemd patroni haproxy galera-4 iptables \
    nginx libnginx-mod-stream chromium man-db adduser frr bird2"

deps() { # deps [packages...]: the build's and these (default: every test's)
    local missing=() want=${*:-$RUN_DEPS}
    for p in $BUILD_DEPS $want ${EXTRA_DEPS:-}; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "installing: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        # Services are started by the tests and the demo themselves, never by the packages.
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

build() { # build DIR [cmake args...]
    local dir=$1
    shift
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DK3LB_WERROR=ON "$@" >/dev/null
    cmake --build "$dir" -j"$(nproc)"
}

run_suite() { # run_suite DIR
    (cd "$1" && ctest --output-on-failure -j2)
}

case "${1:-}" in
deps)
    deps
    ;;
demo)
    deps $DEMO_DEPS
    build build
    exec python3 contrib/demo.py --k3lb build/k3lb "${@:2}"
    ;;
test)
    EXTRA_DEPS=$FUZZ_DEPS deps
    build build
    run_suite build
    build build-asan -DK3LB_SANITIZE=ON
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
        run_suite build-asan
    CC=clang build build-fuzz -DK3LB_FUZZ=ON
    (cd build-fuzz && ctest -L fuzz --output-on-failure -j2)
    echo "all tests passed (plain, sanitized, fuzzed)"
    ;;
*)
    echo "usage: $0 demo|test|deps" >&2
    exit 2
    ;;
esac
