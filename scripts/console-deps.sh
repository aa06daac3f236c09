#!/bin/bash
# console-deps.sh - install the console's npm packages (npm ci from
# console/package-lock.json) and copy the ES modules the pages import into
# console/vendor/, which nginx serves at /console/vendor/. No build step:
# the files are used as npm ships them; the one bare import (preact/hooks
# imports "preact") is pointed at the copied file, since the
# Content-Security-Policy allows no inline import map.
set -euo pipefail

usage() {
	cat <<'EOF2'
Usage: scripts/console-deps.sh [--check] [--help]

  (no option)  npm ci in console/ when node_modules is missing or older than
               package-lock.json, then copy the modules into console/vendor/
  --check      only say whether console/vendor/ is complete (exit 1 if not)
EOF2
}

srcdir=$(cd "$(dirname "$0")/.." && pwd)
c=$srcdir/console
files=(preact.mjs preact-hooks.mjs htm.mjs marked.mjs purify.mjs uPlot.mjs uPlot.min.css)

case ${1:-} in
-h | --help) usage; exit 0 ;;
--check)
	for f in "${files[@]}"; do
		[ -s "$c/vendor/$f" ] || { echo "console-deps: missing console/vendor/$f"; exit 1; }
	done
	echo "console-deps: console/vendor is complete"
	exit 0
	;;
'') ;;
*) echo "console-deps: unknown option '$1' (see --help)" >&2; exit 2 ;;
esac

command -v npm >/dev/null 2>&1 || { echo "console-deps: npm is not installed (apt-get install npm)" >&2; exit 1; }
if [ ! -d "$c/node_modules/preact" ] || [ "$c/package-lock.json" -nt "$c/node_modules/.package-lock.json" ]; then
	echo "console-deps: npm ci in $c"
	(cd "$c" && npm ci --no-audit --no-fund --loglevel=error)
fi
nm=$c/node_modules
mkdir -p "$c/vendor"
cp "$nm/preact/dist/preact.module.js" "$c/vendor/preact.mjs"
sed 's|from"preact"|from"./preact.mjs"|g; s|from "preact"|from "./preact.mjs"|g' \
	"$nm/preact/hooks/dist/hooks.module.js" >"$c/vendor/preact-hooks.mjs"
cp "$nm/htm/dist/htm.module.js" "$c/vendor/htm.mjs"
cp "$nm/marked/lib/marked.esm.js" "$c/vendor/marked.mjs"
cp "$nm/dompurify/dist/purify.es.mjs" "$c/vendor/purify.mjs"
cp "$nm/uplot/dist/uPlot.esm.js" "$c/vendor/uPlot.mjs"
cp "$nm/uplot/dist/uPlot.min.css" "$c/vendor/uPlot.min.css"
for f in "${files[@]}"; do
	[ -s "$c/vendor/$f" ] || { echo "console-deps: $f was not copied" >&2; exit 1; }
done
if grep -l 'from *"preact"' "$c/vendor/"*.mjs >/dev/null 2>&1; then
	echo "console-deps: a bare 'preact' import is left in console/vendor" >&2
	exit 1
fi
echo "console-deps: console/vendor has ${#files[@]} files from npm"
