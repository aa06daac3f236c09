#!/bin/bash
# install-deps.sh - install the Debian 12 packages cubeserve builds, tests and
# benches with. Does nothing (quickly) when all of them are installed.
set -euo pipefail

PKGS=(
	# build
	build-essential autoconf automake libtool pkg-config clang libclang-rt-14-dev
	# libraries
	libfcgi-dev libjemalloc-dev libjansson-dev liblua5.4-dev lua5.4 libhiredis-dev nettle-dev
	libsodium-dev
	# image decoding in the glue
	libturbojpeg0-dev libspng-dev
	# optional backends
	libopencv-dnn-dev libtorch-dev libopenblas0-pthread libxgboost-dev
	# the onnx plugin's XNNPACK engine (its header includes pthreadpool's)
	libxnnpack-dev libpthreadpool-dev
	# the stack: web server, spawner, registry, metrics
	nginx-light spawn-fcgi redis-server prometheus
	# tests and benches
	curl jq wrk iproute2 python3 python3-numpy python3-sklearn python3-torch python3-xgboost
	# ONNX backend test data (tests/unit/test_onnx_nodes) and the torchvision
	# examples (examples/resnet18, examples/mobilenetv2)
	libonnx-testdata python3-torchvision
	# the Kubernetes manifests' offline validation (npm ci in tests/k8s; npm
	# itself comes with the machine's Node.js, so it is not listed here)
	nodejs
	# the peer servers bench/peers.sh compares against
	gunicorn python3-flask
	# the console: model uploads (cubeserve-api), browser tests
	libarchive-dev chromium
	# the image example and its bench (fixtures, the reference model, the peer)
	python3-pil python3-torchvision
)

usage() {
	cat <<EOF
Usage: scripts/install-deps.sh [--check] [--help]

Installs with apt-get, as root (or through sudo), the packages cubeserve
needs: ${PKGS[*]}

  --check   only list the missing packages; exit 1 when any is missing
EOF
}

check_only=0
case ${1:-} in
-h | --help) usage; exit 0 ;;
--check) check_only=1 ;;
'') ;;
*) echo "install-deps: unknown option '$1' (see --help)" >&2; exit 2 ;;
esac

missing=()
for p in "${PKGS[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing+=("$p")
done

# The console's npm packages (console/package-lock.json) into console/vendor.
console_deps() {
	[ "$check_only" = 1 ] && return 0
	"$(dirname "$0")/console-deps.sh" || echo "install-deps: the console's npm packages were not installed (see above)" >&2
}


# npm packages the tests use, each folder from its committed package-lock.json
# (npm ci); skipped when an install newer than the lock is there.
NPM_DIRS=(tests/k8s)
npm_deps() {
	local top d
	top=$(cd "$(dirname "$0")/.." && pwd)
	for d in "${NPM_DIRS[@]}"; do
		# npm ci writes node_modules/.package-lock.json when it is done
		if [ "$top/$d/node_modules/.package-lock.json" -nt "$top/$d/package-lock.json" ]; then
			continue
		fi
		if ! command -v npm >/dev/null 2>&1; then
			echo "install-deps: npm is missing: the tests in $d need it (install Node.js and npm)" >&2
			[ "$check_only" = 1 ] && return 1
			return 0
		fi
		[ "$check_only" = 1 ] && { echo "install-deps: $d: npm packages not installed"; return 1; }
		echo "install-deps: npm ci in $d"
		(cd "$top/$d" && npm ci --no-audit --no-fund --loglevel=error)
	done
}

if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all ${#PKGS[@]} packages are installed"
	console_deps
	npm_deps
	exit 0
fi
echo "install-deps: missing ${#missing[@]} of ${#PKGS[@]} packages: ${missing[*]}"
[ "$check_only" = 0 ] || exit 1

sudo=()
if [ "$(id -u)" != 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		sudo=(sudo)
	else
		echo "install-deps: not root and no sudo: install them as root" >&2
		exit 1
	fi
fi
export DEBIAN_FRONTEND=noninteractive
echo "install-deps: apt-get update"
"${sudo[@]}" apt-get update -q
echo "install-deps: apt-get install ${missing[*]}"
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
console_deps
npm_deps
echo "install-deps: done"
