# Docker for the container tests: Debian's docker.io, and a daemon started in
# the background when none answers (no iptables rules, no bridge network: the
# test containers run with --network none).
need_apt docker docker.io
if ! command -v dockerd >/dev/null 2>&1 && [ ! -x /usr/sbin/dockerd ]; then
    apt_missing+=(docker.io)
fi
apt_install

if ! docker version >/dev/null 2>&1; then
    echo "scripts/test: starting dockerd" >&2
    log=${TMPDIR:-/tmp}/firebox-dockerd.log
    dockerd=$(command -v dockerd || echo /usr/sbin/dockerd)
    setsid "$dockerd" --iptables=false --bridge=none >"$log" 2>&1 </dev/null &
    for _ in $(seq 1 60); do
        if [ -S /var/run/docker.sock ] && docker version >/dev/null 2>&1; then
            break
        fi
        sleep 1
    done
    if ! docker version >/dev/null 2>&1; then
        echo "scripts/test: dockerd did not come up; its log is $log" >&2
        tail -n 20 "$log" >&2
        exit 1
    fi
fi
