#!/bin/bash
# test_doc_plugin.sh - the complete plugin that docs/plugin-abi.md shows is
# the one the suite builds and loads (tests/plugins/scale2.c), to the byte.
set -euo pipefail
top=${CS_TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
echo "1..1"
doc=$(awk '/^## A complete plugin/ { f = 1 } f && /^```c$/ { g = 1; next }
	g && /^```$/ { exit } g { print }' "$top/docs/plugin-abi.md")
if [ -n "$doc" ] && [ "$doc" = "$(cat "$top/tests/plugins/scale2.c")" ]; then
	echo "ok 1 - docs/plugin-abi.md's complete plugin is tests/plugins/scale2.c"
else
	diff <(printf '%s\n' "$doc") "$top/tests/plugins/scale2.c" | sed 's/^/# /' | head -n 20
	echo "not ok 1 - docs/plugin-abi.md's complete plugin differs from tests/plugins/scale2.c"
fi
