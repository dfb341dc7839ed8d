# firebox diff: Go writes the pprof pair, perf and inferno's collapser the
# perf pair, and git holds the repository scripts/profile-diff runs on.
need_apt go golang-go
need_apt perf linux-perf
need_apt git git
if ! command -v inferno-collapse-perf >/dev/null 2>&1; then
    echo "scripts/test: installing inferno (inferno-collapse-perf)" >&2
    cargo install --quiet --locked inferno --version 0.12.8
fi
