#!/usr/bin/env bash
# Fetch onnxruntime's C/C++ API headers (Debian trixie libonnxruntime-dev) into $1 once, with
# private apt state under $2; prints the include dir on success. Never installs anything.
set -euo pipefail
dest=$1 state=$2
inc=$dest/usr/include/onnxruntime
if [[ -f $inc/onnxruntime_cxx_api.h ]]; then echo "$inc"; exit 0; fi
command -v apt-get >/dev/null || { echo "apt-get not available" >&2; exit 1; }
command -v dpkg-deb >/dev/null || { echo "dpkg-deb not available" >&2; exit 1; }
mkdir -p "$state/lists/partial" "$state/cache/archives/partial" "$state/deb"
echo "deb http://deb.debian.org/debian trixie main" > "$state/sources.list"
opts=(-o "Dir::Etc::sourcelist=$state/sources.list" -o "Dir::Etc::sourceparts=-"
      -o "Dir::State::Lists=$state/lists" -o "Dir::Cache=$state/cache"
      -o "APT::Get::List-Cleanup=0" -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root")
apt-get "${opts[@]}" -qq update >&2
(cd "$state/deb" && apt-get "${opts[@]}" -qq download libonnxruntime-dev >&2)
deb=$(ls "$state"/deb/libonnxruntime-dev_*.deb | head -1)
rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
dpkg-deb -x "$deb" "$dest.tmp"
[[ -f $dest.tmp/usr/include/onnxruntime/onnxruntime_cxx_api.h ]] || { echo "no onnxruntime_cxx_api.h in $deb" >&2; exit 1; }
rm -rf "$dest" && mv "$dest.tmp" "$dest"
echo "$inc"
