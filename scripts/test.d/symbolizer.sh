# The symbolizer's tests compile C, C++ and Rust workloads and split debug
# info off with binutils; /proc/kallsyms addresses need root.
for tool in cc:gcc c++:g++ objcopy:binutils strip:binutils; do
    if ! command -v "${tool%%:*}" >/dev/null 2>&1; then
        apt-get install -y "${tool##*:}"
    fi
done
