//! A name's registered domain: one label under its public suffix, from
//! the ICANN section of the public suffix list.
//!
//! The list's private section (hosting and CDN suffixes such as
//! `cloudfront.net` or `blogspot.com`) is stepped over on purpose: a
//! customer's random-looking host under a CDN (`d111abc.cloudfront.net`)
//! is the CDN's name, not a domain somebody registered, and the
//! tunneling signals count names per domain an operator can act on.

/// The registered domain of `name` (lowercase, no trailing dot): the
/// ICANN public suffix and the label before it. None when `name` is a
/// public suffix itself (`com`, `co.uk`) or empty. A suffix the list
/// does not know counts as one label (`cluster.local` for
/// `api.default.svc.cluster.local`).
pub fn registered(name: &str) -> Option<&str> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() {
        return None;
    }
    let suffix_len = icann_suffix_len(name)?;
    if suffix_len >= name.len() {
        return None;
    }
    // The label before the suffix, and its dot.
    let head = &name[..name.len() - suffix_len - 1];
    let start = head.rfind('.').map_or(0, |i| i + 1);
    if start == head.len() {
        return None;
    }
    Some(&name[start..])
}

/// The length of `name`'s ICANN public suffix, a tail of `name`.
fn icann_suffix_len(name: &str) -> Option<usize> {
    let mut tail = name;
    // A private rule sits under an ICANN one: drop the private suffix's
    // first label and ask again, until the match is not private. Each
    // round drops a label, so this ends.
    loop {
        let suffix = psl::suffix(tail.as_bytes())?;
        if suffix.typ() != Some(psl::Type::Private) {
            return Some(suffix.as_bytes().len());
        }
        let private = &tail[tail.len() - suffix.as_bytes().len()..];
        let dot = private.find('.')?;
        tail = &private[dot + 1..];
    }
}

/// The leftmost label of a registered domain (what looks generated or
/// not).
pub fn label(registered: &str) -> &str {
    registered.split('.').next().unwrap_or(registered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_label_under_the_icann_suffix() {
        for (name, want) in [
            ("www.example.com", Some("example.com")),
            ("example.com.", Some("example.com")),
            ("a.b.example.co.uk", Some("example.co.uk")),
            ("d111abcdef8.cloudfront.net", Some("cloudfront.net")),
            ("x.y.blogspot.co.uk", Some("blogspot.co.uk")),
            ("api.default.svc.cluster.local", Some("cluster.local")),
            ("10.0.96.10.in-addr.arpa", Some("10.in-addr.arpa")),
            ("com", None),
            ("co.uk", None),
            ("", None),
            (".", None),
            ("a..com", None),
        ] {
            assert_eq!(registered(name), want, "{name}");
        }
        assert_eq!(label("example.co.uk"), "example");
    }
}
