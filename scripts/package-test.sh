#!/usr/bin/env bash
# Builds the Debian package from the working tree (tracked files and untracked ones git does not
# ignore), lints it, installs it, and checks from the installed files alone: --help, the shipped
# config, examples and a config in a temp dir that find their profiles and rules under
# /usr/share/sipshield, the SBOM, the unit and a 2-second daemon run on net_null ports. Then
# removes it.
#
#   scripts/package-test.sh [--keep] [--jobs N]
#
# --keep leaves the package installed; --jobs sets DEB_BUILD_OPTIONS=parallel (default 1).
# Needs root (dpkg -i) and the build dependencies (scripts/install-deps.sh).
set -euo pipefail

keep=0
jobs=1
while (($#)); do
  case $1 in
    --keep) keep=1 ;;
    --jobs) jobs=$2; shift ;;
    *) echo "usage: $0 [--keep] [--jobs N]" >&2; exit 2 ;;
  esac
  shift
done
if [[ $(id -u) -ne 0 ]]; then
  echo "package-test: needs root (dpkg -i, dpkg --purge)" >&2
  exit 2
fi

root=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
scratch=$(mktemp -d /tmp/sipshield-package-test.XXXXXX)
was_installed=0
dpkg-query -W -f='${Status}' sipshield 2>/dev/null | grep -q "install ok installed" && was_installed=1
installed=0
passed=0
start=$SECONDS

cleanup() {
  if ((installed && !keep && !was_installed)); then
    dpkg --purge sipshield >"$scratch/remove.log" 2>&1 || { echo "package-test: dpkg --purge failed:"; cat "$scratch/remove.log"; }
  fi
  rm -rf "$scratch"
}
trap cleanup EXIT

fail() {
  echo "package-test: FAIL: $current: $*" >&2
  echo "package-test: $passed passed, 1 failed ($((SECONDS - start)) s)"
  exit 1
}
# step NAME: starts a step; the previous one passed.
current=""
step() {
  [[ -n $current ]] && { echo "package-test: ok: $current"; passed=$((passed + 1)); }
  current=$1
}
# run LOG CMD...: runs CMD into LOG; on failure shows the end of LOG and fails the step.
run() {
  local log=$1
  shift
  if ! "$@" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    fail "$* exited non-zero"
  fi
}

step "copy the tree"
src=$scratch/sipshield
mkdir -p "$src"
git -C "$root" ls-files -z --cached --others --exclude-standard |
  while IFS= read -r -d '' f; do [[ -e $root/$f ]] && printf '%s\0' "$f"; done |
  tar -C "$root" --null -T - -cf - | tar -C "$src" -xf - || fail "tar"

step "dpkg-buildpackage -us -uc -b"
run "$scratch/build.log" env -C "$src" DEB_BUILD_OPTIONS="parallel=$jobs" \
  dpkg-buildpackage -us -uc -b
deb=$(ls "$scratch"/sipshield_*_amd64.deb 2>/dev/null | head -n 1)
changes=$(ls "$scratch"/sipshield_*_amd64.changes 2>/dev/null | head -n 1)
[[ -f $deb && -f $changes ]] || fail "no .deb or .changes in $scratch"

step "lintian: no errors"
lintian -I "$changes" >"$scratch/lintian.log" 2>&1 || true
sed 's/^/  /' "$scratch/lintian.log"
if grep -q '^E: ' "$scratch/lintian.log"; then fail "lintian reports errors (E: lines above)"; fi

step "dependencies are installed"
apt-get install --simulate "$deb" >"$scratch/deps.log" 2>&1 || { cat "$scratch/deps.log"; fail "apt-get"; }
missing=$(awk '$1 == "Inst" && $2 != "sipshield" {print $2}' "$scratch/deps.log" | tr '\n' ' ')
[[ -z $missing ]] || fail "missing: $missing(scripts/install-deps.sh installs them)"

step "dpkg -i"
run "$scratch/install.log" dpkg -i "$deb"
installed=1

step "installed layout"
for f in /usr/bin/sipshield /usr/bin/sipshield-inspect /usr/bin/sipshield-gen \
  /usr/bin/sipshield-eval /usr/bin/sipshield-ctl /etc/sipshield/sipshield.json /etc/default/sipshield \
  /lib/systemd/system/sipshield.service /usr/libexec/sipshield/sipshield-hugepages \
  /usr/share/sipshield/sipshield.cdx.json /usr/share/sipshield/signatures/default.json \
  /usr/share/sipshield/ports/null.json /usr/share/sipshield/scenarios/demo.json \
  /usr/share/sipshield/examples/bare-metal-ixgbe.json; do
  [[ -f $f ]] || fail "$f is missing"
done
conffiles=$(dpkg-query -W -f='${Conffiles}' sipshield)
for f in /etc/sipshield/sipshield.json /etc/default/sipshield; do
  grep -q " $f " <<<"$conffiles" || fail "$f is not a conffile"
done

step "systemd unit"
if command -v systemd-analyze >/dev/null; then
  # Without systemd as PID 1 it still parses the unit and checks the programs it runs exist.
  run "$scratch/verify.log" systemd-analyze verify /lib/systemd/system/sipshield.service
fi
SIPSHIELD_HUGEPAGES=0 run "$scratch/hugepages.log" /usr/libexec/sipshield/sipshield-hugepages

step "the installed SBOM is valid CycloneDX 1.5 and names the installed versions"
version=$(dpkg-query -W -f='${Version}' sipshield)
run "$scratch/sbom.log" python3 "$src/test/integration/sbom_test.py" \
  --sbom /usr/share/sipshield/sipshield.cdx.json --schemas "$src/test/data/cyclonedx" \
  --version "${version%-*}"

unset SIPSHIELD_DATADIR  # the daemon must find its data where it was installed
step "sipshield --help"
run "$scratch/help.log" /usr/bin/sipshield --help
grep -q "^usage: sipshield" "$scratch/help.log" || fail "no usage text"

step "--check-config of the shipped config and examples"
for cfg in /etc/sipshield/sipshield.json /usr/share/sipshield/examples/*.json; do
  run "$scratch/check.log" /usr/bin/sipshield --check-config --config "$cfg"
done

step "a config in a temp dir finds ports/ and signatures/ in /usr/share/sipshield"
cfgdir=$scratch/etc
mkdir -p "$cfgdir"
cat >"$cfgdir/sipshield.json" <<'EOF'
{
  "ports": {"outside": {"device": "net_null0", "profile": "ports/null.json"},
            "inside": {"device": "net_null1", "profile": "ports/null.json"}},
  "signatures": {"rules": "signatures/default.json"},
  "stats_interval_s": 0
}
EOF
run "$scratch/check.log" /usr/bin/sipshield --check-config --config "$cfgdir/sipshield.json"
python3 -c 'import json, sys; c = json.load(open(sys.argv[1]))
assert c["ports"]["outside"]["rss"]["enabled"] is False, "ports/null.json not applied"' \
  "$scratch/check.log" 2>"$scratch/py.log" || fail "$(cat "$scratch/py.log")"

step "the installed daemon runs 2 s on net_null ports and prints its final counters"
run "$scratch/run.log" timeout 60 /usr/bin/sipshield --no-huge --no-shconf -m 512 --no-pci \
  -l 0-1 --no-telemetry -- --config "$cfgdir/sipshield.json" --duration 2 \
  --report "$scratch/report.json"
python3 -c 'import json, sys; r = json.load(open(sys.argv[1]))
assert r["counters"]["ports"]["outside"]["rx"] > 0, "no frames received"' \
  "$scratch/report.json" 2>"$scratch/py.log" || fail "$(cat "$scratch/py.log")"
grep -q '"counters"' "$scratch/run.log" || fail "no final counters JSON on stdout"

if ((!keep && !was_installed)); then
  step "dpkg --purge sipshield"
  run "$scratch/remove.log" dpkg --purge sipshield
  installed=0
  [[ ! -e /usr/bin/sipshield && ! -e /etc/sipshield ]] || fail "files are left after the purge"
fi
step ""
((was_installed)) && echo "package-test: note: sipshield was installed before; the new build stays"
((keep)) && echo "package-test: --keep: sipshield stays installed (dpkg --purge sipshield removes it)"
echo "package-test: $passed passed, 0 failed ($((SECONDS - start)) s)"
