//! The flags' value parsers: each turns a flag's text into its value, or
//! into the message clap shows for a bad one.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;

use crate::filter::RcodeFilter;
use crate::record::dns::{self, NameGlob};
use crate::tui::Column;

pub(super) fn parse_rcode_filter(s: &str) -> Result<RcodeFilter, String> {
    if s.eq_ignore_ascii_case("TIMEOUT") {
        return Ok(RcodeFilter::Timeout);
    }
    if s.eq_ignore_ascii_case("ENCRYPTED") {
        return Ok(RcodeFilter::Encrypted);
    }
    if s.eq_ignore_ascii_case("UNREACHABLE") {
        return Ok(RcodeFilter::Unreachable);
    }
    match dns::parse_rcode(s) {
        Some(v) if v <= 15 => Ok(RcodeFilter::Code(v)),
        Some(v) => Err(format!(
            "rcode {v} is an extended (EDNS) rcode; only header rcodes 0-15 and TIMEOUT can be filtered"
        )),
        None => Err(format!(
            "unknown rcode '{s}': use a name (NOERROR, SERVFAIL, NXDOMAIN, REFUSED, ...), a number 0-15, TIMEOUT or UNREACHABLE"
        )),
    }
}

pub(super) fn parse_qtype(s: &str) -> Result<u16, String> {
    dns::parse_qtype(s).ok_or_else(|| {
        format!(
            "unknown query type '{s}': use a name (A, AAAA, MX, ...), TYPE<n> or a number 0-65535"
        )
    })
}

pub(super) fn parse_net(s: &str) -> Result<IpNet, String> {
    if let Ok(net) = s.parse::<IpNet>() {
        return Ok(net);
    }
    s.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| format!("'{s}' is neither an IP address nor a CIDR (10.0.0.0/8, fd00::/8)"))
}

/// `IP:PORT`, or a bare `PORT` (or `:PORT`), which listens on loopback
/// only: the metrics name who asks for what, so any other address is the
/// user's explicit choice.
pub(super) fn parse_listen_addr(s: &str) -> Result<SocketAddr, String> {
    let port = s.strip_prefix(':').unwrap_or(s);
    if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(port) = port.parse::<u16>() {
            return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
        }
    }
    s.parse().map_err(|_| {
        format!(
            "'{s}' is not an address to listen on: use IP:PORT, like 127.0.0.1:9253 or [::]:9253, or a PORT alone for 127.0.0.1"
        )
    })
}

pub(super) fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("'{s}' is not a duration like 50ms, 1s, 2m: {e}"))
}

pub(super) fn parse_timeout(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < Duration::from_millis(10) || d > Duration::from_secs(3600) {
        return Err(format!("--timeout must be between 10ms and 1h, not {s}"));
    }
    Ok(d)
}

pub(super) fn parse_name(s: &str) -> Result<NameGlob, String> {
    NameGlob::new(s)
}

/// A Kubernetes namespace is a DNS label: at most 63 characters.
pub(super) fn parse_namespace(s: &str) -> Result<String, String> {
    if s.is_empty() || s.len() > 63 {
        return Err(format!(
            "'{s}' cannot be a Kubernetes namespace (1 to 63 characters), so it would match nothing"
        ));
    }
    Ok(s.to_string())
}

/// A domain for `--security-allow`: lowercase, without the trailing dot.
pub(super) fn parse_domain(s: &str) -> Result<String, String> {
    let d = s.trim_end_matches('.').to_ascii_lowercase();
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if d.is_empty() || d.len() > 253 || !d.split('.').all(label_ok) {
        return Err(format!(
            "'{s}' is not a domain name (labels of letters, digits, '-' and '_', split by dots)"
        ));
    }
    Ok(d)
}

/// A window the security signals count over: longer than 0.
pub(super) fn parse_window(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d.is_zero() {
        return Err("a window of 0 would count nothing".into());
    }
    Ok(d)
}

pub(super) fn parse_column(s: &str) -> Result<Column, String> {
    Column::parse(s)
}

/// The longest process name the kernel keeps (TASK_COMM_LEN less the NUL).
const COMM_MAX: usize = crate::record::KERNEL_STR_LEN - 1;

pub(super) fn parse_comm(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("an empty process name matches nothing".into());
    }
    if s.len() > COMM_MAX {
        return Err(format!(
            "'{s}' is longer than the {COMM_MAX} bytes the kernel keeps of a process name, so it \
             would match nothing: give its first {COMM_MAX} bytes, as /proc/PID/comm shows them"
        ));
    }
    Ok(s.to_string())
}

/// The longest interface name (IFNAMSIZ less the NUL).
const IFNAME_MAX: usize = crate::record::KERNEL_STR_LEN - 1;

pub(super) fn parse_interface(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("an empty interface name matches nothing".into());
    }
    if s.len() > IFNAME_MAX {
        return Err(format!(
            "'{s}' is longer than an interface name can be ({IFNAME_MAX} bytes), so it would match nothing"
        ));
    }
    Ok(s.to_string())
}

pub(super) fn parse_positive_duration(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d.is_zero() {
        return Err("a duration of 0 would stop before tracing anything".into());
    }
    Ok(d)
}
