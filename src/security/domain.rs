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
    let registered = &name[start..];
    // An escaped byte (`\.` inside a label, `\DDD`): the labels are not
    // what the dots say; no registered domain is made up.
    (!registered.contains('\\')).then_some(registered)
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

/// The site `name` belongs to: one label under its public suffix, the
/// list's private section included (`bucket.s3.amazonaws.com`,
/// `d111abc.cloudfront.net`, `example.co.uk`). What one party controls,
/// and so what a tunnel's names are counted under: a customer of a cloud
/// or CDN runs no name server under the provider's domain, while the
/// provider's domain gathers the names of all its customers. None when
/// `name` is a public suffix itself, or has an escaped byte in its last
/// labels (no public suffix has one).
pub fn site(name: &str) -> Option<&str> {
    let name = name.strip_suffix('.').unwrap_or(name);
    let site = psl::domain_str(name)?;
    (!site.contains('\\')).then_some(site)
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
            ("foo.evil\\.com", None),
            ("x.a\\000b.com", None),
        ] {
            assert_eq!(registered(name), want, "{name}");
        }
        for (name, want) in [
            ("www.example.com", Some("example.com")),
            (
                "d111abcdef8.cloudfront.net",
                Some("d111abcdef8.cloudfront.net"),
            ),
            (
                "bucket.s3.us-east-1.amazonaws.com",
                Some("bucket.s3.us-east-1.amazonaws.com"),
            ),
            ("api.default.svc.cluster.local", Some("cluster.local")),
            ("com", None),
            ("foo.evil\\.com", None),
        ] {
            assert_eq!(site(name), want, "{name}");
        }
        assert_eq!(label("example.co.uk"), "example");
    }
}
