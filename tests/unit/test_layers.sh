#!/bin/bash
# test_layers.sh - the runtime's layers (docs/architecture.md): a file in
# runtime/<layer>/ includes headers of its own layer or of the layers below
# it, never above. One TAP line per layer.
set -euo pipefail
top=${CS_TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}

# layer: the layers its files may include (itself included)
declare -A allowed=(
	[core]="core"
	[model]="core model"
	[registry]="core model registry"
	[glue]="core model glue"
	[protocol]="core model protocol"
	[serve]="core model registry glue protocol serve"
	[api]="core model registry api"
	[cli]="core model registry glue protocol serve cli"
)
order="core model registry glue protocol serve cli, and api beside serve"

layers=$(cd "$top/runtime" && find . -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort)
echo "1..$(($(wc -w <<<"$layers") + 0))"
n=0
for layer in $layers; do
	n=$((n + 1))
	if [ -z "${allowed[$layer]:-}" ]; then
		echo "not ok $n - runtime/$layer: a folder this test does not know (give it its place in the layers here and in docs/architecture.md)"
		continue
	fi
	bad=$(cd "$top/runtime" && grep -Hn '^#include "[a-z_]*/' "$layer"/*.[ch] 2>/dev/null |
		while IFS= read -r line; do
			inc=${line#*#include \"}
			dep=${inc%%/*}
			case " ${allowed[$layer]} " in
			*" $dep "*) ;;
			*) echo "$line" ;;
			esac
		done || true)
	if [ -z "$bad" ]; then
		echo "ok $n - runtime/$layer includes only: ${allowed[$layer]}"
	else
		printf '%s\n' "$bad" | sed 's/^/#   /'
		echo "not ok $n - runtime/$layer includes a layer above it (order: $order)"
	fi
done
