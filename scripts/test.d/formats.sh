# Tools the format tests run: Go (runtime/pprof profiles, go tool pprof),
# perf, inferno-collapse-perf, py-spy, a JDK 17 (java, javac, jfr), and
# /usr/bin/time for the benchmark. Sourced by scripts/test; idempotent.

formats_missing=()
command -v go >/dev/null 2>&1 || formats_missing+=(golang-go)
command -v perf >/dev/null 2>&1 || formats_missing+=(linux-perf)
command -v javac >/dev/null 2>&1 || formats_missing+=(openjdk-17-jdk-headless)
command -v cc >/dev/null 2>&1 || formats_missing+=(gcc)
[ -x /usr/bin/time ] || formats_missing+=(time)
if [ "${#formats_missing[@]}" -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${formats_missing[@]}"
fi
command -v py-spy >/dev/null 2>&1 || pip install --quiet py-spy
command -v inferno-collapse-perf >/dev/null 2>&1 || cargo install --quiet --locked inferno --version 0.12.8
unset formats_missing
