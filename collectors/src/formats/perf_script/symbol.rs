//! Symbol names as `perf script` prints them, tidied into frame names.

/// The name a frame shows: offsets, hashes and argument lists removed.
pub(crate) fn tidy_symbol(symbol: &str, module: &str, keep_offsets: bool) -> String {
    if symbol.is_empty() || symbol == "[unknown]" {
        return match module {
            "" | "[unknown]" => "[unknown]".to_string(),
            m if m.starts_with('[') => m.to_string(),
            m => format!("[{}]", m.rsplit('/').next().unwrap_or(m)),
        };
    }
    let mut name = symbol;
    if !keep_offsets {
        name = strip_offset(name);
    }
    let name = strip_rust_hash(name);
    strip_arguments(name).to_string()
}

/// `main+0x1f` → `main`; a `+` inside the name stays.
fn strip_offset(name: &str) -> &str {
    match name.rsplit_once("+0x") {
        Some((base, hex))
            if !base.is_empty()
                && !hex.is_empty()
                && hex.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            base
        }
        _ => name,
    }
}

/// `app::main::h0123456789abcdef` → `app::main`.
fn strip_rust_hash(name: &str) -> &str {
    match name.rsplit_once("::h") {
        Some((base, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            base
        }
        _ => name,
    }
}

/// Cuts the argument list: the first `(` at depth 0 of `<>`, `{}`, `[]`
/// and `()` that directly follows a name. `(anonymous namespace)`, Go's
/// `pkg.(*T).M` and lambdas are kept whole.
fn strip_arguments(name: &str) -> &str {
    let bytes = name.as_bytes();
    let mut depth = 0i32;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if bytes[i..].starts_with(b"operator") {
            // Skip the operator's own punctuation (`operator<<`, `operator()`
            // is cut at its `(` below, as the reference collapsers do).
            i += "operator".len();
            while i < bytes.len() && b"<>=!+-*/%^&|~[],".contains(&bytes[i]) {
                i += 1;
            }
            if depth == 0 && bytes.get(i) == Some(&b'(') {
                return &name[..i];
            }
            continue;
        }
        match b {
            b'<' | b'{' | b'[' => depth += 1,
            b'>' | b'}' | b']' => depth -= 1,
            b'(' => {
                let after_name = i > 0
                    && (bytes[i - 1].is_ascii_alphanumeric()
                        || matches!(bytes[i - 1], b'_' | b'>' | b'$'));
                if depth == 0 && after_name {
                    return &name[..i];
                }
                depth += 1;
            }
            b')' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_are_tidied_at_depth_zero() {
        let t = |s| tidy_symbol(s, "/usr/bin/app", false);
        assert_eq!(
            t("std::vector<int, std::allocator<int> >::push_back(int const&)"),
            "std::vector<int, std::allocator<int> >::push_back"
        );
        assert_eq!(t("void exec<void (*)()>(void (*)())"), "void exec<void (*)()>");
        assert_eq!(
            t("std::function<int (int, int)>::operator()(int, int) const"),
            "std::function<int (int, int)>::operator"
        );
        assert_eq!(t("(anonymous namespace)::helper(int)"), "(anonymous namespace)::helper");
        assert_eq!(
            t("main::{lambda(int, int)#2}::operator()(int, int) const"),
            "main::{lambda(int, int)#2}::operator"
        );
        assert_eq!(t("net/http.(*Client).Do"), "net/http.(*Client).Do");
        assert_eq!(t("operator+=(Vec&, Vec const&)+0x8"), "operator+=");
        assert_eq!(t("compute+0x44"), "compute");
        assert_eq!(t("operator<<(std::ostream&, int)"), "operator<<");
        assert_eq!(
            t("core::array::<impl core::default::Default for [T; 4]>::default::h0123456789abcdef"),
            "core::array::<impl core::default::Default for [T; 4]>::default"
        );
        assert_eq!(t("[unknown]"), "[app]");
        assert_eq!(tidy_symbol("[unknown]", "[unknown]", false), "[unknown]");
    }
}
