#!/usr/bin/env bash
# The Debian packages that make setup installs (as root) when they are missing, in one apt-get call per kind:
# speech tools and corpora with their recommended packages, the compiler, servers and the browser without. Not root: it names
# what to install. Each entry: the package, then a command or a path (glob) that is there once it is installed.
set -euo pipefail

with_recommends=(
  "espeak-ng espeak-ng"                                      # spoken samples, corpora, tests
  "sox sox"
  "flite flite"                                              # the general corpus's other voices
  "festival text2wave"
  "festvox-kallpc16k /usr/share/festival/voices/english/kal_diphone"
  "festvox-kdlpc16k /usr/share/festival/voices/english/ked_diphone"
  "festvox-us-slt-hts /usr/share/festival/voices/us/cmu_us_slt_arctic_hts"
  "wordnet-base /usr/share/wordnet/data.noun"                # general English text
  "fortunes-min /usr/share/games/fortunes/fortunes"
  "fortunes /usr/share/games/fortunes/art"
  "alsa-utils /usr/share/sounds/alsa"                        # human test clips
)
without_recommends=(
  "gcc cc"                                                   # builds the launcher's shim
  "libc6-dev /usr/include/stdio.h"
  "chromium /usr/lib/chromium/chromium"                      # the web app's browser tests (Playwright drives it)
  "postgresql /usr/lib/postgresql/*/bin/initdb"              # the gateway's tests run on PostgreSQL too
  "prometheus prometheus"                                    # the Helm chart's dashboard test scrapes a real Triton
  "haproxy /usr/sbin/haproxy"                                # the local fleet's load balancer (make fleet)
)

missing() {
  local entry package check
  for entry in "$@"; do
    package=${entry%% *}; check=${entry#* }
    if [[ $check == /* ]]; then compgen -G "$check" >/dev/null || echo "$package"
    else command -v "$check" >/dev/null || echo "$package"; fi
  done
}

mapfile -t first < <(missing "${with_recommends[@]}")
mapfile -t second < <(missing "${without_recommends[@]}")
[ ${#first[@]} -eq 0 ] && [ ${#second[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "note: install these Debian packages (apt-get) for the samples, corpora and tests: ${first[*]} ${second[*]}"
  exit 0
fi
apt-get update -qq
[ ${#first[@]} -eq 0 ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${first[@]}" >/dev/null
[ ${#second[@]} -eq 0 ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${second[@]}" >/dev/null
