//! Function names as a person reads them: demangled, without the Rust hash
//! suffix and without C++ argument lists.
//!
//! The demangling itself is done by `rustc-demangle` and `cpp_demangle`; what
//! is written here is the choice of demangler and the tidying around it:
//!
//! - A name goes down the Rust path only when it is a v0 symbol (`_R...`) or
//!   a legacy symbol whose last path part is the `17h<16 hex>E` hash. Any
//!   other `_Z` name is C++, so `_ZN12_GLOBAL__N_1...` reads as
//!   `(anonymous namespace)::...` rather than as a Rust path.
//! - Names that another tool already ran through a C++ demangler keep the
//!   Rust legacy escapes (`$LT$`, `$u20$`, `..`); those are undone by hand,
//!   since no crate accepts such half-done input.
//! - Argument lists are cut only at bracket depth 0, and a parenthesised group
//!   followed by `::` or `.` is part of the name: `(anonymous namespace)`,
//!   Go's `net/http.(*Client).Do`, `{lambda(int, int)#2}` and
//!   `exec<void (*)()>` all survive.
//!
//! Every step is idempotent, so a name that is already clean passes through
//! unchanged. A `;` inside a name is kept: escaping it is the folded writer's
//! business.

use std::borrow::Cow;

/// The readable form of a raw symbol name: demangled, without the Rust
/// `::h<hash>` suffix, without a C++ argument list, trimmed.
///
/// ```
/// use firebox_symbolizer::names::clean;
///
/// assert_eq!(clean("_ZN3app5cache5Store3get17h0123456789abcdefE"), "app::cache::Store::get");
/// assert_eq!(clean("_ZNSt6vectorIiSaIiEE9push_backERKi"), "std::vector<int, std::allocator<int> >::push_back");
/// assert_eq!(clean("net/http.(*Client).Do"), "net/http.(*Client).Do");
/// ```
pub fn clean(raw: &str) -> String {
    let demangled = demangle(raw.trim());
    let unescaped = unescape_rust_legacy(&demangled);
    let unhashed = strip_rust_hash(&unescaped);
    strip_arguments(unhashed).trim().to_string()
}

/// `raw` demangled when it is a mangled Rust or C++ symbol, else `raw`.
///
/// Rust demangling is tried only for v0 symbols and for legacy symbols that
/// carry a hash; the hash is left out of the result.
pub fn demangle(raw: &str) -> Cow<'_, str> {
    if is_rust_symbol(raw) {
        if let Ok(name) = rustc_demangle::try_demangle(raw) {
            // The alternate form leaves out the hash and crate disambiguators.
            return Cow::Owned(format!("{name:#}"));
        }
    }
    if is_cpp_symbol(raw) {
        if let Ok(symbol) = cpp_demangle::Symbol::new(raw.as_bytes()) {
            if let Ok(name) = symbol.demangle() {
                return Cow::Owned(name);
            }
        }
    }
    Cow::Borrowed(raw)
}

/// Whether `raw` must go through the Rust demangler: a v0 symbol, or a legacy
/// one whose last path part is the `17h<16 hex>E` hash.
fn is_rust_symbol(raw: &str) -> bool {
    if let Some(v0) = raw.strip_prefix("_R").or_else(|| raw.strip_prefix("__R")) {
        return v0.starts_with(|c: char| c.is_ascii_uppercase());
    }
    if !raw.starts_with("_ZN") && !raw.starts_with("__ZN") {
        return false;
    }
    // LLVM and the linker may append `.llvm.1234` or similar suffixes.
    let body = raw.split('.').next().unwrap_or(raw);
    let Some(rest) = body.strip_suffix('E') else {
        return false;
    };
    rest.len() >= 19 && {
        let (head, hash) = rest.split_at(rest.len() - 17);
        head.ends_with("17") && hash.starts_with('h') && is_lower_hex(&hash[1..])
    }
}

/// Whether `raw` looks like an Itanium C++ ABI mangled name.
fn is_cpp_symbol(raw: &str) -> bool {
    raw.starts_with("_Z") || raw.starts_with("__Z")
}

fn is_lower_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The Rust legacy escapes a C++ demangler leaves behind, undone:
/// `_$LT$app..Store$LT$K$C$$u20$V$GT$$GT$::get` becomes `<app::Store<K, V>>::get`.
///
/// Names without such an escape are returned as they are, so `..` in other
/// names is left alone.
pub fn unescape_rust_legacy(name: &str) -> Cow<'_, str> {
    if !has_rust_escape(name) {
        return Cow::Borrowed(name);
    }

    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("..") {
            out.push_str("::");
            rest = after;
            continue;
        }
        // A path part that starts with an escape gets a `_` in front of it
        // when mangled; it is not part of the name.
        let at_part_start = out.is_empty() || out.ends_with("::");
        if at_part_start && rest.starts_with("_$") {
            rest = &rest[1..];
            continue;
        }
        if rest.starts_with('$') {
            if let Some((text, len)) = escape_at(rest) {
                out.push_str(&text);
                rest = &rest[len..];
                continue;
            }
        }
        let c = rest.chars().next().unwrap_or_default();
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    Cow::Owned(out)
}

fn has_rust_escape(name: &str) -> bool {
    let mut rest = name;
    while let Some(at) = rest.find('$') {
        if escape_at(&rest[at..]).is_some() {
            return true;
        }
        rest = &rest[at + 1..];
    }
    false
}

/// The text an escape at the start of `s` stands for and the escape's length.
fn escape_at(s: &str) -> Option<(String, usize)> {
    let end = s[1..].find('$')? + 2;
    let code = &s[1..end - 1];
    let text = match code {
        "SP" => "@",
        "BP" => "*",
        "RF" => "&",
        "LT" => "<",
        "GT" => ">",
        "LP" => "(",
        "RP" => ")",
        "C" => ",",
        _ => {
            let hex = code.strip_prefix('u')?;
            if hex.is_empty() || hex.len() > 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            let c = char::from_u32(u32::from_str_radix(hex, 16).ok()?)?;
            return Some((c.to_string(), end));
        }
    };
    Some((text.to_string(), end))
}

/// `name` without a trailing Rust hash part `::h<16 hex>`.
pub fn strip_rust_hash(name: &str) -> &str {
    match name.rsplit_once("::h") {
        Some((head, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            head
        }
        _ => name,
    }
}

/// `name` cut before its argument list: at the first `(` at bracket depth 0
/// whose group is not followed by `::` or `.` (those groups are part of the
/// name, as in `(anonymous namespace)::f` or Go's `pkg.(*T).M`).
pub fn strip_arguments(name: &str) -> &str {
    let bytes = name.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[..i].ends_with(b"operator") {
            // `operator<<`, `operator->` and friends: their `<`/`>` are no
            // brackets.
            let start = i;
            while i < bytes.len() && matches!(bytes[i], b'<' | b'>' | b'=' | b'-') {
                i += 1;
            }
            if i > start {
                continue;
            }
        }
        match bytes[i] {
            // The `->` of a Rust `fn() -> T` type closes nothing.
            b'>' if i > 0 && bytes[i - 1] == b'-' => {}
            b'<' | b'[' | b'{' => depth += 1,
            b'>' | b']' | b'}' => depth = depth.saturating_sub(1),
            b'(' if depth == 0 => {
                let close = closing_paren(bytes, i);
                let after = &bytes[close.map_or(bytes.len(), |c| c + 1)..];
                if !(after.starts_with(b"::") || after.starts_with(b".")) {
                    return &name[..i];
                }
                i = close.map_or(bytes.len(), |c| c + 1);
                continue;
            }
            b'(' => depth += 1,
            b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    name
}

/// The index of the `)` that closes the `(` at `open`.
fn closing_paren(bytes: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, &b) in bytes.iter().enumerate().skip(open) {
        match b {
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The arrow of a function type inside generic arguments closes no
    /// bracket, so the arguments are not cut there.
    #[test]
    fn arrow_in_generic_arguments_is_no_bracket() {
        assert_eq!(
            strip_arguments("call_once<fn() -> std::process::ExitCode, ()>(fn() -> ExitCode)"),
            "call_once<fn() -> std::process::ExitCode, ()>"
        );
        assert_eq!(strip_arguments("Foo::operator->(int)"), "Foo::operator->");
    }

    /// C30: every input of the case gives exactly the expected name.
    #[test]
    fn rust_and_cpp_symbols_of_c30() {
        let cases = [
            (
                "_$LT$app..cache..Store$LT$K$C$$u20$V$GT$$GT$::get::h0123456789abcdef",
                "<app::cache::Store<K, V>>::get",
            ),
            ("_ZN3app5cache5Store3get17h0123456789abcdefE", "app::cache::Store::get"),
            ("_RNvCs15kBYyAo9fc_7mycrate7example", "mycrate::example"),
            ("_ZN12_GLOBAL__N_113single_threadE", "(anonymous namespace)::single_thread"),
            (
                "_ZNSt6vectorIiSaIiEE9push_backERKi",
                "std::vector<int, std::allocator<int> >::push_back",
            ),
        ];
        for (raw, expected) in cases {
            assert_eq!(clean(raw), expected, "for {raw}");
        }
    }

    /// C30: the C++ demangler alone gives the argument list that C02 strips.
    #[test]
    fn cpp_demangling_keeps_arguments_until_cleaned() {
        assert_eq!(
            demangle("_ZNSt6vectorIiSaIiEE9push_backERKi"),
            "std::vector<int, std::allocator<int> >::push_back(int const&)"
        );
    }

    /// C30: a `_ZN` name without a Rust hash is C++, never a Rust path.
    #[test]
    fn legacy_rust_path_needs_the_hash() {
        assert!(!is_rust_symbol("_ZN12_GLOBAL__N_113single_threadE"));
        assert!(is_rust_symbol("_ZN3app5cache5Store3get17h0123456789abcdefE"));
        assert!(is_rust_symbol("_ZN3app3get17h0123456789abcdefE.llvm.42"));
        assert!(is_rust_symbol("_RNvCs15kBYyAo9fc_7mycrate7example"));
        assert!(!is_rust_symbol("_Rotate"));
    }

    /// C30: cleaning a clean name changes nothing, for every case's output.
    #[test]
    fn cleaning_is_idempotent() {
        let raws = [
            "_$LT$app..cache..Store$LT$K$C$$u20$V$GT$$GT$::get::h0123456789abcdef",
            "_ZN3app5cache5Store3get17h0123456789abcdefE",
            "_RNvCs15kBYyAo9fc_7mycrate7example",
            "_ZN12_GLOBAL__N_113single_threadE",
            "_ZNSt6vectorIiSaIiEE9push_backERKi",
            "core::array::<impl core::default::Default for [T; 4]>::default::h0123456789abcdef",
            "main::{lambda(int, int)#2}::operator()(int, int) const",
        ];
        for raw in raws {
            let once = clean(raw);
            assert_eq!(clean(&once), once, "for {raw}");
        }
    }

    /// C30: names that are already demangled pass through unchanged.
    #[test]
    fn demangled_names_pass_through() {
        for name in ["app::cache::Store::get", "main", "parse_header", "java.lang.String.hashCode"]
        {
            assert_eq!(clean(name), name);
        }
    }

    /// C01: the array impl keeps its `; 4]` inside one name and loses the hash.
    #[test]
    fn rust_array_impl_of_c01() {
        let raw = "_ZN4core5array75_$LT$impl$u20$core..default..Default$u20$for$u20$$u5b$T$u3b$$u20$4$u5d$$GT$7default17h0123456789abcdefE";
        assert_eq!(clean(raw), "core::array::<impl core::default::Default for [T; 4]>::default");
        assert_eq!(
            clean(
                "core::array::<impl core::default::Default for [T; 4]>::default::h0123456789abcdef"
            ),
            "core::array::<impl core::default::Default for [T; 4]>::default"
        );
        assert_eq!(
            clean("core::array::<impl Default for [T; 4]>::default"),
            "core::array::<impl Default for [T; 4]>::default"
        );
    }

    /// C01: the partially demangled form of the array impl is fixed up too.
    #[test]
    fn partially_demangled_array_impl() {
        let half = "core::array::_$LT$impl$u20$core..default..Default$u20$for$u20$$u5b$T$u3b$$u20$4$u5d$$GT$::default::h0123456789abcdef";
        assert_eq!(clean(half), "core::array::<impl core::default::Default for [T; 4]>::default");
    }

    /// C02: argument lists go, brackets of every kind inside names stay.
    #[test]
    fn cpp_and_go_names_of_c02() {
        let cases = [
            (
                "std::vector<int, std::allocator<int> >::push_back(int const&)",
                "std::vector<int, std::allocator<int> >::push_back",
            ),
            ("void exec<void (*)()>(void (*)())", "void exec<void (*)()>"),
            (
                "std::function<int (int, int)>::operator()(int, int) const",
                "std::function<int (int, int)>::operator",
            ),
            ("(anonymous namespace)::helper(int)", "(anonymous namespace)::helper"),
            (
                "main::{lambda(int, int)#2}::operator()(int, int) const",
                "main::{lambda(int, int)#2}::operator",
            ),
            ("net/http.(*Client).Do", "net/http.(*Client).Do"),
            ("main", "main"),
        ];
        for (raw, expected) in cases {
            assert_eq!(clean(raw), expected, "for {raw}");
        }
    }

    /// C02: the operators whose names hold brackets do not upset the depth.
    #[test]
    fn operators_with_angle_brackets() {
        assert_eq!(
            clean("std::basic_ostream<char, std::char_traits<char> >& std::operator<< <std::char_traits<char> >(std::basic_ostream<char, std::char_traits<char> >&, char const*)"),
            "std::basic_ostream<char, std::char_traits<char> >& std::operator<< <std::char_traits<char> >"
        );
        assert_eq!(clean("Ptr::operator->() const"), "Ptr::operator->");
        assert_eq!(clean("a::operator<(a const&)"), "a::operator<");
    }

    /// C02: a local entity of a function keeps the function's `()` part.
    #[test]
    fn function_local_names_keep_their_scope() {
        assert_eq!(
            clean("foo()::{lambda()#1}::operator()() const"),
            "foo()::{lambda()#1}::operator"
        );
        assert_eq!(clean("f(int) [clone .cold]"), "f");
    }

    /// A `;` is not touched here: the folded writer escapes it.
    #[test]
    fn semicolons_are_kept() {
        assert_eq!(clean("<[u8; 4] as app::Hot>::spin"), "<[u8; 4] as app::Hot>::spin");
    }
}
