//! Transactions as aligned lines of text, and the cells they are made of
//! (the live table shows the same process, name and latency).

use std::fmt::Write as _;
use std::net::IpAddr;

use super::clock::Clock;
use super::fields::About;
use super::ip::{push_ip, push_ipv4, push_ipv6};
use crate::attribution::Attribution;
use crate::record::dns;
use crate::record::{Kind, Transaction};
use crate::security::Suspicion;

#[cfg(test)]
fn endpoint(ip: IpAddr, port: u16) -> String {
    let mut s = String::new();
    push_endpoint(&mut s, ip, port);
    s
}

/// 10.0.0.1:53, [fd00::1]:53.
fn push_endpoint(out: &mut String, ip: IpAddr, port: u16) {
    match ip {
        IpAddr::V4(v4) => push_ipv4(out, v4),
        IpAddr::V6(v6) => {
            out.push('[');
            push_ipv6(out, v6);
            out.push(']');
        }
    }
    out.push(':');
    out.push_str(itoa::Buffer::new().format(port));
}

/// The server as asked, and where DNAT delivered the query when it did:
/// `10.96.0.10:53→10.244.2.2`, with the backend's port only when it is
/// not the server's (`10.96.0.10:53→10.244.2.2:5353`).
pub fn server_cell(t: &Transaction) -> String {
    let mut s = String::new();
    push_server(&mut s, t);
    s
}

#[inline(always)]
fn push_server(out: &mut String, t: &Transaction) {
    push_endpoint(out, t.server, t.server_port);
    let Some(backend) = t.backend_ip else {
        return;
    };
    out.push('→');
    match t.backend_port {
        Some(port) if port != t.server_port => push_endpoint(out, backend, port),
        _ => push_ip(out, backend),
    }
}

/// "dig[1234]", or "-" when the sending process is not known.
pub fn process(t: &Transaction) -> String {
    process_of(t, None)
}

/// The process, after who it is (its pod, container or unit) when known:
/// "shop/web-0:curl[1234]", "nginx.service:nginx[812]"; "shop/web-0"
/// when the process itself is not known.
pub fn process_of(t: &Transaction, who: Option<&Attribution>) -> String {
    let mut s = String::new();
    push_process(&mut s, t, who);
    s
}

fn push_process(out: &mut String, t: &Transaction, who: Option<&Attribution>) {
    let label = who.and_then(Attribution::label);
    if let Some(label) = label {
        out.push_str(label);
    }
    let Some(pid) = t.pid else {
        if label.is_none() {
            out.push('-');
        }
        return;
    };
    if label.is_some() {
        out.push(':');
    }
    if let Some(comm) = &t.comm {
        out.push_str(comm);
    }
    out.push('[');
    out.push_str(itoa::Buffer::new().format(pid));
    out.push(']');
}

/// Latency as people read it: 850us, 12.3ms, 1.20s.
pub fn human_latency(ns: u64) -> String {
    let mut s = String::new();
    push_human_latency(&mut s, ns);
    s
}

fn push_human_latency(out: &mut String, ns: u64) {
    if ns < 1_000_000 {
        out.push_str(itoa::Buffer::new().format(ns / 1000));
        out.push_str("us");
    } else if ns < 100_000_000 {
        let _ = write!(out, "{:.2}ms", ns as f64 / 1e6);
    } else if ns < 1_000_000_000 {
        let _ = write!(out, "{:.1}ms", ns as f64 / 1e6);
    } else {
        let _ = write!(out, "{:.2}s", ns as f64 / 1e9);
    }
}

/// The column titles over [`text_line`], built from the same widths.
pub fn text_header() -> String {
    format!(
        "{:<15} {:<20} {:>21}    {:<24} {:<5} {:>5} {:<6} {:<40} {:<9} {:>8}",
        "TIME", "PROCESS", "CLIENT", "SERVER", "PROTO", "ID", "TYPE", "NAME", "RCODE", "LATENCY"
    )
}

/// One aligned line (no newline).
///
/// Each field is written straight into `out` and padded there, as
/// `{:<20}` or `{:>21}` would pad it: this runs for every transaction, and
/// core::fmt's padding (a call per space) and the fields' own Strings cost
/// more than the rest of the line.
pub fn text_line(t: &Transaction, clock: &Clock, out: &mut String) {
    text_line_of(t, About::default(), clock, out);
}

/// [`text_line`] of a transaction, with what else is known of it: the
/// sender is named, and a suspicious transaction ends with
/// `[suspicious SCORE: kind,kind]`.
pub fn text_line_of(t: &Transaction, about: About<'_>, clock: &Clock, out: &mut String) {
    use Align::{Left, Right};
    let who = about.who;
    clock.time_of_day(t.mono_ns, out);
    out.push(' ');
    padded(out, Left, 20, |out| push_process(out, t, who));
    out.push(' ');
    padded(out, Right, 21, |out| {
        push_endpoint(out, t.client, t.client_port)
    });
    out.push_str(" -> ");
    padded(out, Left, 24, |out| push_server(out, t));
    out.push(' ');
    padded(out, Left, 5, |out| out.push_str(t.proto.as_str()));
    out.push(' ');
    padded(out, Right, 5, |out| {
        out.push_str(itoa::Buffer::new().format(t.id))
    });
    out.push(' ');
    padded(out, Left, 6, |out| {
        if t.kind == Kind::Encrypted {
            out.push('-');
        } else {
            out.push_str(&dns::qtype_name(t.qtype));
        }
    });
    out.push(' ');
    padded(out, Left, 40, |out| push_name_cell(out, t));
    out.push(' ');
    padded(out, Left, 9, |out| {
        out.push_str(&t.rcode_name());
        if t.truncated() {
            out.push_str(",TC");
        }
    });
    out.push(' ');
    padded(out, Right, 8, |out| match t.latency_ns {
        Some(ns) => push_human_latency(out, ns),
        None => out.push('-'),
    });
    if let Some(s) = about.suspicion {
        push_suspicion(out, s);
    }
}

/// ` [suspicious SCORE: kind,kind]`.
pub(super) fn push_suspicion(out: &mut String, s: &Suspicion) {
    out.push_str(" [suspicious ");
    out.push_str(itoa::Buffer::new().format(s.score));
    out.push_str(": ");
    out.push_str(&s.kind_names());
    out.push(']');
}

#[derive(Clone, Copy)]
enum Align {
    Left,
    Right,
}

/// Appends what `write` writes, padded with spaces to `width` characters
/// (at most 40) the way core::fmt pads: after it to align it left, before
/// it to align it right, and not at all when it is wider.
fn padded(out: &mut String, align: Align, width: usize, write: impl FnOnce(&mut String)) {
    const SPACES: &str = "                                        ";
    let start = out.len();
    write(out);
    let len = out[start..].chars().count();
    if len < width {
        let pad = &SPACES[..width - len];
        match align {
            Align::Left => out.push_str(pad),
            Align::Right => out.insert_str(start, pad),
        }
    }
}

/// Bytes as people read them: 950 B, 12.3 kB, 4.5 MB.
pub fn human_bytes(n: u64) -> String {
    if n < 1000 {
        format!("{n} B")
    } else if n < 1_000_000 {
        format!("{:.1} kB", n as f64 / 1e3)
    } else {
        format!("{:.1} MB", n as f64 / 1e6)
    }
}

/// What the name column shows: the name, or for an encrypted connection
/// what can be known of it. Records that are not a transaction of their
/// own say so after the name (`(announced)`, `(late)`, `(duplicate)`,
/// with the first answer's rcode when this one's differs), and an
/// unreachable query which ICMP error failed it, from whom.
pub fn name_cell(t: &Transaction) -> String {
    let mut s = String::new();
    push_name_cell(&mut s, t);
    s
}

fn push_name_cell(out: &mut String, t: &Transaction) {
    match t.kind {
        Kind::Encrypted => {
            let _ = write!(
                out,
                "[{} {} out, {} in, {}]",
                t.service
                    .as_str()
                    .to_uppercase()
                    .replace("DOT", "DoT")
                    .replace("DOQ", "DoQ"),
                human_bytes(t.bytes_out),
                human_bytes(t.bytes_in),
                t.duration_ns.map_or("-".into(), human_latency)
            );
        }
        Kind::Announcement => {
            out.push_str(&t.qname);
            out.push_str(" (announced)");
        }
        Kind::Late => {
            out.push_str(&t.qname);
            out.push_str(" (late)");
        }
        Kind::Duplicate => {
            out.push_str(&t.qname);
            match t.first_rcode {
                Some(first) if t.rcode_differs() => {
                    out.push_str(" (duplicate, first ");
                    out.push_str(&first.name());
                    out.push(')');
                }
                _ => out.push_str(" (duplicate)"),
            }
        }
        Kind::Unreachable => {
            out.push_str(&t.qname);
            if let Some(icmp) = t.icmp {
                out.push_str(" (");
                out.push_str(&icmp.name());
                out.push_str(" from ");
                push_ip(out, icmp.from);
                out.push(')');
            }
        }
        Kind::Answered | Kind::Timeout => out.push_str(&t.qname),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::tests::{txn, EPOCH};
    use crate::record::tests::bytes_of;

    #[test]
    fn text_line_is_aligned_and_readable() {
        let clock = Clock::fixed(EPOCH);
        let mut a = String::new();
        text_line(&txn(|_| {}), &clock, &mut a);
        assert!(a.starts_with("18:00:01.000000 dig[4242]"), "{a}");
        assert!(a.contains("10.0.0.2:40000 -> 10.0.0.1:53"), "{a}");
        assert!(a.contains(" 48879 AAAA   www.example.com"), "{a}");
        assert!(a.contains("NXDOMAIN"), "{a}");
        assert!(a.trim_end().ends_with("2.50ms"), "{a}");
        let mut b = String::new();
        text_line(
            &txn(|e| {
                e.kind = 1;
                e.pid = 0;
            }),
            &clock,
            &mut b,
        );
        assert!(b.contains(" - "), "{b}");
        assert!(b.contains("TIMEOUT"), "{b}");
        // Same column for the name in both lines.
        assert_eq!(a.find("www.example.com"), b.find("www.example.com"));
        // The header's titles stand over their columns.
        let header = text_header();
        assert_eq!(header.find("NAME"), a.find("www.example.com"));
        assert_eq!(header.find("PROCESS"), a.find("dig[4242]"));
        assert_eq!(header.find("SERVER"), a.find("10.0.0.1:53"));
        assert_eq!(
            header.find("LATENCY").map(|i| i + "LATENCY".len()),
            Some(a.trim_end().len())
        );
    }

    /// text_line as it was written with core::fmt, the oracle for the
    /// one that pads by hand, for a clock `mono_to_real_ns` ahead of
    /// CLOCK_MONOTONIC and `utc_offset_s` east of UTC.
    fn text_line_with_fmt(t: &Transaction, (mono_to_real_ns, utc_offset_s): (i128, i64)) -> String {
        let endpoint = |ip: IpAddr, port: u16| match ip {
            IpAddr::V4(v4) => format!("{v4}:{port}"),
            IpAddr::V6(v6) => format!("[{v6}]:{port}"),
        };
        let server = match (t.backend_ip, t.backend_port) {
            (None, _) => endpoint(t.server, t.server_port),
            (Some(b), Some(p)) if p != t.server_port => {
                format!("{}→{}", endpoint(t.server, t.server_port), endpoint(b, p))
            }
            (Some(b), _) => format!("{}→{b}", endpoint(t.server, t.server_port)),
        };
        let human_latency = |ns: u64| {
            if ns < 1_000_000 {
                format!("{}us", ns / 1000)
            } else if ns < 100_000_000 {
                format!("{:.2}ms", ns as f64 / 1e6)
            } else if ns < 1_000_000_000 {
                format!("{:.1}ms", ns as f64 / 1e6)
            } else {
                format!("{:.2}s", ns as f64 / 1e9)
            }
        };
        let process = match (t.pid, &t.comm) {
            (Some(pid), Some(comm)) => format!("{comm}[{pid}]"),
            (Some(pid), None) => format!("[{pid}]"),
            _ => "-".to_string(),
        };
        let name_cell = match t.kind {
            Kind::Encrypted => format!(
                "[{} {} out, {} in, {}]",
                t.service
                    .as_str()
                    .to_uppercase()
                    .replace("DOT", "DoT")
                    .replace("DOQ", "DoQ"),
                human_bytes(t.bytes_out),
                human_bytes(t.bytes_in),
                t.duration_ns.map_or("-".into(), human_latency)
            ),
            Kind::Announcement => format!("{} (announced)", t.qname),
            Kind::Late => format!("{} (late)", t.qname),
            Kind::Duplicate => match t.first_rcode {
                Some(first) if Some(first) != t.rcode().map(crate::record::Outcome::Rcode) => {
                    format!("{} (duplicate, first {})", t.qname, first.name())
                }
                _ => format!("{} (duplicate)", t.qname),
            },
            Kind::Unreachable => match t.icmp {
                Some(i) => format!("{} ({} from {})", t.qname, i.name(), i.from),
                None => t.qname.clone(),
            },
            _ => t.qname.clone(),
        };
        let real =
            i128::from(t.mono_ns) + mono_to_real_ns + i128::from(utc_offset_s) * 1_000_000_000;
        let real = real.max(0);
        let secs = (real / 1_000_000_000) as u64;
        let micros = ((real % 1_000_000_000) / 1000) as u64;
        let day = secs % 86400;
        let mut out = format!(
            "{:02}:{:02}:{:02}.{:06}",
            day / 3600,
            day / 60 % 60,
            day % 60,
            micros
        );
        let latency = match t.latency_ns {
            Some(ns) => human_latency(ns),
            None => "-".into(),
        };
        let mut rcode = t.rcode_name().into_owned();
        if t.truncated() {
            rcode.push_str(",TC");
        }
        let _ = write!(
            out,
            " {:<20} {:>21} -> {:<24} {:<5} {:>5} {:<6} {:<40} {:<9} {:>8}",
            process,
            endpoint(t.client, t.client_port),
            server,
            t.proto.as_str(),
            t.id,
            if t.kind == Kind::Encrypted {
                "-".into()
            } else {
                dns::qtype_name(t.qtype)
            },
            name_cell,
            rcode,
            latency
        );
        out
    }

    /// Byte for byte the line core::fmt wrote, for records of every shape
    /// and latencies around every change of unit and rounding, at times of
    /// day across midnight and in a zone east of UTC.
    #[test]
    fn text_line_is_what_fmt_wrote() {
        let clocks = [(EPOCH, 0), (EPOCH - 1_000_000_000, 5 * 3600 + 1800)];
        let mut line = String::new();
        let mut check = |t: &Transaction| {
            for (i, &(mono_to_real_ns, offset_s)) in clocks.iter().enumerate() {
                let clock = match i {
                    0 => Clock::fixed(mono_to_real_ns),
                    _ => Clock::with_offset(mono_to_real_ns, offset_s),
                };
                line.clear();
                text_line(t, &clock, &mut line);
                assert_eq!(line, text_line_with_fmt(t, (mono_to_real_ns, offset_s)));
            }
        };
        for seed in 0..20_000 {
            let mut ev = crate::testing::fixtures::varied_nat(seed);
            ev.ts = ev.ts.wrapping_mul(seed % 5 + 1);
            check(&Transaction::decode(&bytes_of(&ev)).unwrap());
        }
        let mut ns = vec![0, 999, 1000, 999_999, 1_000_000, 99_999_999, 100_000_000];
        ns.extend([
            999_999_999,
            1_000_000_000,
            12_345_000,
            12_355_000,
            2_675_000_000,
        ]);
        ns.extend((0..2000u64).map(|i| i * i * 12_345 + i));
        for latency in ns {
            check(&txn(|e| e.latency_ns = latency));
            check(&txn(|e| {
                e.kind = 3;
                e.service = 2;
                e.name_len = 0;
                e.latency_ns = latency;
                e.bytes_out = latency;
                e.bytes_in = latency / 7;
            }));
        }
    }

    /// Through NAT the server column names the backend too, and records
    /// that are no transaction of their own are marked after the name;
    /// without NAT, nothing changes.
    #[test]
    fn text_forms_of_nat_and_the_new_kinds() {
        let clock = Clock::fixed(EPOCH);
        let line = |f: &dyn Fn(&mut crate::kernel::abi::RawEvent)| {
            let mut s = String::new();
            text_line(&txn(|e| f(e)), &clock, &mut s);
            s
        };
        let vip = |e: &mut crate::kernel::abi::RawEvent| {
            e.server_addr[..4].copy_from_slice(&[10, 96, 0, 10]);
            e.nat = 1;
            e.backend_addr[..4].copy_from_slice(&[10, 244, 2, 2]);
            e.backend_port = 53;
        };
        let plain = line(&|_| {});
        let snat_only = line(&|e| {
            e.nat = 2;
            e.nat_addr[..4].copy_from_slice(&[192, 168, 1, 10]);
            e.backend_ns = 1_000_000;
        });
        assert_eq!(plain, snat_only, "no DNAT: as before");

        let dnat = line(&vip);
        assert!(
            dnat.contains("10.0.0.2:40000 -> 10.96.0.10:53→10.244.2.2 udp"),
            "{dnat}"
        );
        // Exactly the column's width: the rest of the line stays in place.
        let column = |l: &str| l[..l.find(" udp ").unwrap()].chars().count();
        assert_eq!(column(&dnat), column(&plain), "{dnat}\n{plain}");
        let port = line(&|e| {
            vip(e);
            e.backend_port = 5353;
        });
        assert!(
            port.contains(" -> 10.96.0.10:53→10.244.2.2:5353 udp"),
            "{port}"
        );
        let v6 = server_cell(&txn(|e| {
            e.family = 6;
            e.server_addr = "fd00:96::a".parse::<std::net::Ipv6Addr>().unwrap().octets();
            e.client_addr = "fd00::2".parse::<std::net::Ipv6Addr>().unwrap().octets();
            e.nat = 1;
            e.backend_addr = "fd00:244::2"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets();
            e.backend_port = 1053;
        }));
        assert_eq!(v6, "[fd00:96::a]:53→[fd00:244::2]:1053");

        let late = line(&|e| {
            e.kind = 4;
            e.latency_ns = 5_200_000_000;
        });
        assert!(late.contains("www.example.com (late) "), "{late}");
        assert!(late.trim_end().ends_with("5.20s"), "{late}");
        let dup = line(&|e| {
            e.kind = 6;
            e.first_rcode = 3;
        });
        assert!(dup.contains("www.example.com (duplicate) "), "{dup}");
        let other = line(&|e| {
            e.kind = 6;
            e.first_rcode = 0;
        });
        assert!(
            other.contains("www.example.com (duplicate, first NOERROR) NXDOMAIN"),
            "{other}"
        );
        let after_icmp = line(&|e| {
            e.kind = 6;
            e.first_rcode = 18;
        });
        assert!(
            after_icmp.contains("www.example.com (duplicate, first UNREACHABLE) NXDOMAIN"),
            "{after_icmp}"
        );
        let icmp = line(&|e| {
            vip(e);
            e.kind = 5;
            e.latency_ns = 400_000;
            e.icmp_type = 3;
            e.icmp_code = 3;
            e.icmp_addr[..4].copy_from_slice(&[10, 244, 2, 2]);
        });
        assert!(
            icmp.contains("www.example.com (port-unreachable from 10.244.2.2)"),
            "{icmp}"
        );
        assert!(icmp.contains(" UNREACHABLE "), "{icmp}");
        assert!(icmp.trim_end().ends_with("400us"), "{icmp}");
    }

    #[test]
    fn latency_is_human() {
        assert_eq!(human_latency(850_000), "850us");
        assert_eq!(human_latency(12_345_678), "12.35ms");
        assert_eq!(human_latency(250_000_000), "250.0ms");
        assert_eq!(human_latency(1_200_000_000), "1.20s");
    }

    #[test]
    fn ipv6_endpoints_are_bracketed() {
        assert_eq!(endpoint("fd00::1".parse().unwrap(), 53), "[fd00::1]:53");
    }
}
