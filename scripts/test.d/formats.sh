# Reading other profilers' files: Go writes pprof profiles (and go tool
# pprof checks them), perf records perf.data and prints perf script,
# inferno's collapser is the reference for it, py-spy records Python, the
# JDK 17 records JFR (java, javac, jfr), readelf reads build-ids, and
# /usr/bin/time measures the benchmark.
need_apt go golang-go
need_apt perf linux-perf
need_apt javac openjdk-17-jdk-headless
need_apt readelf binutils
[ -x /usr/bin/time ] || apt_missing+=(time)
if ! command -v py-spy >/dev/null 2>&1; then
    echo "scripts/test: installing py-spy" >&2
    if ! command -v pip >/dev/null 2>&1 && ! command -v pip3 >/dev/null 2>&1; then
        apt_missing+=(python3-pip)
        apt_install
    fi
    pip=$(command -v pip || command -v pip3)
    # Debian's own Python refuses system-wide pip installs unless told.
    "$pip" install --quiet py-spy 2>/dev/null ||
        "$pip" install --quiet --break-system-packages py-spy
fi
if ! command -v inferno-collapse-perf >/dev/null 2>&1; then
    echo "scripts/test: installing inferno (inferno-collapse-perf)" >&2
    cargo install --quiet --locked inferno --version 0.12.8
fi
