#!/usr/bin/env bash
# Fetch the monitoring tools vigil is tested against, both generations, into a tools folder.
#
#   scripts/tools.sh [DIR]        (default: .tools/ at the top of the repository)
#
# Nothing is installed system-wide. The .debs are downloaded with apt from source lists kept in a
# private apt state directory (so the machine's own apt configuration is neither read nor changed),
# then unpacked with `dpkg -x`:
#
#   DIR/bookworm/bin   Debian 12's Prometheus 2.42, promtool, Alertmanager 0.25, amtool
#   DIR/current/bin    Debian sid's Prometheus 3.5 LTS, promtool, Alertmanager 0.33, amtool,
#                      victoria-metrics, vmalert, vmalert-tool (VictoriaMetrics 1.145)
#   DIR/jsonnet/bin    jsonnetfmt (Debian 12's C++ jsonnet 0.18, the formatter the generators follow)
#
# sid moves: the versions below are pinned, and when a pinned version has left sid the newest one
# is taken instead, and the script says so. It is idempotent: a generation whose VERSIONS file
# already names the pins is left alone. Root is not needed.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-${VIGIL_TOOLS_DIR:-$top/.tools}}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
MIRROR=${VIGIL_DEBIAN_MIRROR:-http://deb.debian.org/debian}

# generation | suites | package=version ...
declare -A SUITES=(
  [bookworm]="bookworm bookworm-updates"
  [current]="sid"
  [jsonnet]="bookworm"
)
declare -A PINS=(
  [bookworm]="prometheus=2.42.0+ds-5+deb12u1 prometheus-alertmanager=0.25.0-1+b4"
  [current]="prometheus=3.5.3+ds1-6 promtool=3.5.3+ds1-6 prometheus-alertmanager=0.33.1-5 victoria-metrics=1.145.0+ds1-2"
  [jsonnet]="jsonnet=0.18.0+ds-3+b2 libjsonnet0=0.18.0+ds-3+b2"
)
# What each generation puts on PATH (Debian's name -> the name vigil looks for, when they differ).
declare -A BINS=(
  [bookworm]="prometheus promtool prometheus-alertmanager:alertmanager amtool"
  [current]="prometheus promtool prometheus-alertmanager:alertmanager amtool victoria-metrics vmalert vmalert-tool"
  [jsonnet]="jsonnetfmt"
)

say() { printf 'tools: %s\n' "$*" >&2; }
LAYOUT=layout-2   # bump when the folder's layout changes, so that older folders are fetched anew

apt_opts() {  # private apt state for one generation
  local state=$1
  printf '%s\n' -o "Dir::State=$state" -o "Dir::State::Lists=$state/lists" \
    -o "Dir::State::status=/dev/null" -o "Dir::Cache=$state/cache" \
    -o "Dir::Etc::SourceList=$state/sources.list" -o "Dir::Etc::SourceParts=/dev/null" \
    -o "Dir::Etc::Preferences=/dev/null" -o "Dir::Etc::PreferencesParts=/dev/null" \
    -o "APT::Sandbox::User=root" -o "Debug::NoLocking=1"
}

# Debian builds Alertmanager to read its default notification templates (and web UI) from
# /usr/share/prometheus/alertmanager instead of embedding them, so an unpacked copy fails to start
# ("open /usr/share/prometheus/alertmanager/default.tmpl"). The path is a Go string constant:
# overwrite it, byte for byte, with a path of the same length (padded with slashes, which the
# kernel and filepath.Join both collapse) under /tmp, where the alertmanager wrapper links this
# generation's templates.
AM_SHARE=/usr/share/prometheus/alertmanager
relocate_alertmanager_templates() {
  local gen=$1 dest=$2 bin=$dest.new/root/usr/bin/prometheus-alertmanager
  [ -x "$bin" ] || return 0
  AM_LINK="/tmp/.vigil-am-$gen"
  local link=$AM_LINK
  while [ ${#link} -lt ${#AM_SHARE} ]; do link="$link/"; done
  [ ${#link} -eq ${#AM_SHARE} ] || { say "cannot relocate Alertmanager's templates for $gen"; exit 1; }
  OLD=$AM_SHARE NEW=$link perl -0777 -pi -e 's/\Q$ENV{OLD}\E/$ENV{NEW}/g' "$bin"
  grep -aq "$link" "$bin" || { say "Alertmanager's template path not found in $bin"; exit 1; }
}

fetch() {
  local gen=$1 dest=$dir/$1 state=$dir/.apt-$1
  local want=${PINS[$gen]}
  if [ -f "$dest/VERSIONS" ] && [ "$(head -n 1 "$dest/VERSIONS")" = "pins: $want $LAYOUT" ]; then
    return 0
  fi
  say "fetching the $gen generation into $dest"
  mkdir -p "$state/lists/partial" "$state/cache/archives/partial"
  : >"$state/sources.list"
  for suite in ${SUITES[$gen]}; do
    echo "deb [signed-by=$KEYRING] $MIRROR $suite main" >>"$state/sources.list"
  done
  if [ "$gen" = bookworm ] || [ "$gen" = jsonnet ]; then
    echo "deb [signed-by=$KEYRING] ${MIRROR%/debian}/debian-security bookworm-security main" >>"$state/sources.list"
  fi
  mapfile -t opts < <(apt_opts "$state")
  apt-get "${opts[@]}" -qq update
  local take=() note=() pkg ver have
  for pin in $want; do
    pkg=${pin%%=*} ver=${pin#*=}
    if apt-cache "${opts[@]}" show "$pkg=$ver" >/dev/null 2>&1; then
      take+=("$pkg=$ver")
    else
      have=$(apt-cache "${opts[@]}" policy "$pkg" | awk '/Candidate:/ {print $2}')
      [ -n "$have" ] && [ "$have" != "(none)" ] || { say "$pkg is not in ${SUITES[$gen]} at all"; exit 1; }
      say "NOTE: pinned $pkg $ver is gone from ${SUITES[$gen]}; taking the newest, $have"
      take+=("$pkg=$have") note+=("$pkg: pinned $ver gone, took $have")
    fi
  done
  local debs=$state/debs
  rm -rf "$debs" "$dest.new" && mkdir -p "$debs" "$dest.new/bin"
  (cd "$debs" && apt-get "${opts[@]}" -qq download "${take[@]}")
  for deb in "$debs"/*.deb; do dpkg -x "$deb" "$dest.new/root"; done
  relocate_alertmanager_templates "$gen" "$dest"
  for entry in ${BINS[$gen]}; do
    local from=${entry%%:*} to=${entry#*:}
    [ -x "$dest.new/root/usr/bin/$from" ] || { say "$from missing from the $gen packages"; exit 1; }
    if [ "$gen" = jsonnet ]; then  # a C++ binary with its library beside it
      printf '#!/bin/sh\nLD_LIBRARY_PATH="%s${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "%s" "$@"\n' \
        "$dest/root/usr/lib/x86_64-linux-gnu" "$dest/root/usr/bin/$from" >"$dest.new/bin/$to"
      chmod +x "$dest.new/bin/$to"
    elif [ "$from" = prometheus-alertmanager ]; then  # see relocate_alertmanager_templates
      printf '#!/bin/sh\n[ -e "%s/default.tmpl" ] || ln -sfn "%s" "%s"\nexec "%s" "$@"\n' \
        "$AM_LINK" "$dest/root$AM_SHARE" "$AM_LINK" "$dest/root/usr/bin/$from" >"$dest.new/bin/$to"
      chmod +x "$dest.new/bin/$to"
    else
      ln -s "../root/usr/bin/$from" "$dest.new/bin/$to"
    fi
  done
  { echo "pins: $want $LAYOUT"; printf '%s\n' "${take[@]}"; printf '%s\n' "${note[@]+"${note[@]}"}"; } >"$dest.new/VERSIONS"
  rm -rf "$dest" "$debs" && mv "$dest.new" "$dest"
  say "$gen: $(tail -n +2 "$dest/VERSIONS" | grep . | tr '\n' ' ')"
}

if [ "$(uname -m)" != x86_64 ]; then
  say "only amd64 is wired here (uname -m says $(uname -m)); put the tools on PATH yourself"
  exit 1
fi
command -v apt-get >/dev/null && command -v dpkg >/dev/null || {
  say "needs apt-get and dpkg (Debian or Ubuntu); otherwise put prometheus, promtool, alertmanager, amtool, vmalert, vmalert-tool, victoria-metrics and jsonnetfmt on PATH"
  exit 1
}
for gen in current bookworm jsonnet; do fetch "$gen"; done
echo "$dir"
