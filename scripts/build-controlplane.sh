#!/usr/bin/env bash
# Builds the Kubernetes control plane the tests and `make cluster` run, from pinned Go modules:
# one multi-call binary (tools/controlplane: etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl), helm (tools/helm) and Karpenter's NodeClaim and NodePool CRDs (from
# the sigs.k8s.io/karpenter module zip, into crds/ beside bin/). Nothing is downloaded but Go modules.
#
# The result lives in a cache folder keyed by the versions and a hash of the Go sources, so a fresh
# machine builds once (about 10 minutes on 2 cores) and every later run costs nothing:
#   ${KAITO_CONTROLPLANE_CACHE:-~/.cache/kaito-py/controlplane}/k8s-<ver>-etcd-<ver>-helm-<ver>-<hash>/bin
# The last line printed is that bin folder. `--print` prints it without building (exit 1 if absent).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cp_dir="$root/tools/controlplane"
helm_dir="$root/tools/helm"

version_of() { # module go.mod -> the version it requires
  awk -v m="$1" '$1 == m && $2 ~ /^v/ {print $2; exit}' "$2"
}
k8s_version="$(version_of k8s.io/kubernetes "$cp_dir/go.mod")"
etcd_version="$(version_of go.etcd.io/etcd/server/v3 "$cp_dir/go.mod")"
helm_version="$(version_of helm.sh/helm/v4 "$helm_dir/go.mod")"
karpenter_version=v1.8.0   # the NodeClaim/NodePool schema the simulated provisioner serves
hash="$(cat "$cp_dir"/go.mod "$cp_dir"/go.sum "$cp_dir"/*.go "$helm_dir"/go.mod "$helm_dir"/go.sum "$0" \
  | sha256sum | cut -c1-12)"
cache_root="${KAITO_CONTROLPLANE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kaito-py/controlplane}"
dest="$cache_root/k8s-$k8s_version-etcd-$etcd_version-helm-$helm_version-$hash"
components=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl)

complete() {
  [[ -x "$dest/bin/kaito-controlplane" && -x "$dest/bin/helm" ]] || return 1
  [[ -f "$dest/crds/karpenter.sh_nodeclaims.yaml" && -f "$dest/crds/karpenter.sh_nodepools.yaml" ]] || return 1
  for c in "${components[@]}"; do [[ -x "$dest/bin/$c" ]] || return 1; done
}
if complete; then echo "$dest/bin"; exit 0; fi
if [[ "${1:-}" == "--print" ]]; then echo "control plane not built: run make controlplane" >&2; exit 1; fi
command -v go >/dev/null || { echo "error: Go is needed to build the control plane (go1.26+)" >&2; exit 1; }

mkdir -p "$cache_root"
exec 9>"$cache_root/.lock"
flock 9                       # two builds at once (make -j, parallel sessions) wait for each other
if complete; then echo "$dest/bin"; exit 0; fi

work="$(mktemp -d "$cache_root/.build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin"
started=$SECONDS
minor="${k8s_version#v1.}"; minor="${minor%%.*}"
# Version strings as a release build would have them: kubectl and helm compare server versions.
kv=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kv+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  kv+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
export GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0
echo "building kube-apiserver, kube-controller-manager, kube-scheduler, kubectl $k8s_version and etcd $etcd_version (first time: about 10 minutes on 2 cores)" >&2
(cd "$cp_dir" && go build -trimpath -ldflags "-s -w$kv" -o "$work/bin/kaito-controlplane" .)
for c in "${components[@]}"; do ln -s kaito-controlplane "$work/bin/$c"; done
echo "building helm $helm_version" >&2
(cd "$helm_dir" && go build -trimpath \
  -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$helm_version -X helm.sh/helm/v4/internal/version.gitTreeState=clean" \
  -o "$work/bin/helm" helm.sh/helm/v4/cmd/helm)
echo "fetching Karpenter $karpenter_version CRDs" >&2
karpenter_dir="$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "sigs.k8s.io/karpenter@$karpenter_version" \
  | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
mkdir -p "$work/crds"
for crd in nodeclaims nodepools; do
  cp "$karpenter_dir/pkg/apis/crds/karpenter.sh_$crd.yaml" "$work/crds/"
done
echo "built in $((SECONDS - started)) s: $(du -sh "$work/bin" | cut -f1)" >&2
rm -rf "$dest"
mv "$work" "$dest"
trap - EXIT
echo "$dest/bin"
