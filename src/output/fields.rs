//! The JSON record's fields, in one table: each field's name, its type and
//! meaning as documented, and its value in a transaction. The JSON writer,
//! the live table's `--columns` cells, the man page and the README's table
//! all come from [`FIELDS`], so that they cannot disagree.
//!
//! The table is a macro's input: from it the macro makes [`FIELDS`] and
//! the JSON writer's straight run of fields, each key a constant and each
//! value inlined (a loop over the table would cost an indirect call and a
//! memcpy per field, on every line).

use super::clock::{Clock, TimeCache};
use super::ip::push_ip;
use super::json::{push_ms, JsonWriter, Value};
use crate::attribution::Attribution;
use crate::record::dns;
use crate::record::{Kind, Transaction};
use crate::security::Suspicion;

/// What is known of a transaction besides the record: who sent it, when
/// attribution named them, and why it is suspicious, when it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct About<'a> {
    pub who: Option<&'a Attribution>,
    pub suspicion: Option<&'a Suspicion>,
}

/// What a field's value is made of besides the transaction: the clock,
/// and [`About`]. Derefs to the clock, which most fields that need more
/// than the transaction want.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub clock: &'a Clock,
    pub who: Option<&'a Attribution>,
    pub suspicion: Option<&'a Suspicion>,
}

impl std::ops::Deref for Context<'_> {
    type Target = Clock;

    fn deref(&self) -> &Clock {
        self.clock
    }
}

/// One field of the JSON record.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// The key; a fixed name that users' scripts rely on: never rename.
    pub name: &'static str,
    /// Its JSON type as documented: "string", "number or null", ...
    pub ty: &'static str,
    /// What it means, as the man page and the README say it: plain text
    /// with literal values in backticks (see [`Field::plain_doc`]).
    pub doc: &'static str,
    /// Its value in a transaction.
    pub value: for<'a> fn(&'a Transaction, &Context<'a>) -> Value<'a>,
}

impl Field {
    /// The field's value as the live table shows it: strings without
    /// quotes or escapes, arrays joined with commas, null as "-".
    pub fn cell(&self, t: &Transaction, clock: &Clock) -> String {
        self.cell_of(t, About::default(), clock)
    }

    /// [`Field::cell`] of a transaction, with what else is known of it.
    pub fn cell_of(&self, t: &Transaction, about: About<'_>, clock: &Clock) -> String {
        let mut out = String::new();
        let c = Context {
            clock,
            who: about.who,
            suspicion: about.suspicion,
        };
        match (self.value)(t, &c) {
            Value::Time(real_ns) => TimeCache::default().push_rfc3339_micros(real_ns, &mut out),
            Value::Num(Some(n)) => out.push_str(itoa::Buffer::new().format(n)),
            Value::Str(Some(s)) => out.push_str(s),
            Value::Word(Some(w)) => out.push_str(&w),
            Value::Ms(Some(ns)) => push_ms(&mut out, Some(ns)),
            Value::Num(None)
            | Value::Str(None)
            | Value::Word(None)
            | Value::Ms(None)
            | Value::Ip(None)
            | Value::Suspicion(None) => out.push('-'),
            Value::Suspicion(Some(s)) => {
                out.push_str(itoa::Buffer::new().format(s.score));
                out.push(' ');
                out.push_str(&s.kind_names());
            }
            Value::Ip(Some(ip)) => push_ip(&mut out, ip),
            Value::Bool(b) => out.push_str(if b { "true" } else { "false" }),
            Value::Flags(t) => {
                for (i, f) in t.flags().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(f);
                }
            }
        }
        out
    }

    /// [`Field::doc`] as plain text: the backticks around literal values
    /// taken out.
    pub fn plain_doc(&self) -> String {
        self.doc.replace('`', "")
    }
}

/// The field called `name`.
pub fn find(name: &str) -> Option<&'static Field> {
    FIELDS.iter().find(|f| f.name == name)
}

/// The live table's cell for the JSON field called `name` ("-" for a
/// name that is no field).
pub fn cell(name: &str, t: &Transaction, clock: &Clock) -> String {
    cell_of(name, t, About::default(), clock)
}

/// [`cell`] of a transaction, with what else is known of it.
pub fn cell_of(name: &str, t: &Transaction, about: About<'_>, clock: &Clock) -> String {
    find(name).map_or_else(|| "-".into(), |f| f.cell_of(t, about, clock))
}

/// Every field's name, in order.
pub const JSON_FIELDS: &[&str] = &names();

const fn names() -> [&'static str; FIELDS.len()] {
    let mut names = [""; FIELDS.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = FIELDS[i].name;
        i += 1;
    }
    names
}

/// One JSON object (no newline).
///
/// Written field by field into `out`, without core::fmt: this runs for
/// every transaction, where building a record and serializing it with
/// serde cost a dozen allocations. The pipeline calls [`json_line_cached`],
/// which formats the date once a second instead of once a line.
pub fn json_line(t: &Transaction, clock: &Clock, out: &mut String) {
    json_line_cached(t, clock, &mut TimeCache::default(), out);
}

/// [`json_line`], reusing the date and time of the previous line's
/// timestamp when it is in the same second; allocates nothing then.
pub fn json_line_cached(t: &Transaction, clock: &Clock, times: &mut TimeCache, out: &mut String) {
    json_line_of(t, About::default(), clock, times, out);
}

/// [`json_line_cached`] of a transaction, with what else is known of it.
pub fn json_line_of(
    t: &Transaction,
    about: About<'_>,
    clock: &Clock,
    times: &mut TimeCache,
    out: &mut String,
) {
    let mut w = JsonWriter { out, times };
    let c = Context {
        clock,
        who: about.who,
        suspicion: about.suspicion,
    };
    write_json(&mut w, t, &c);
    w.out.push('}');
}

/// Defines [`FIELDS`] and `write_json` from the table below: each entry is
/// `name: "type", "meaning", |transaction, clock| value;`.
macro_rules! fields {
    ($($name:ident: $ty:literal, $doc:literal, |$t:pat_param, $c:pat_param| $value:expr;)+) => {
        /// Each field's value, a function of its own for [`FIELDS`] and
        /// inlined into `write_json`.
        mod value {
            use super::*;
            $(
                #[inline(always)]
                pub(super) fn $name<'a>($t: &'a Transaction, $c: &Context<'a>) -> Value<'a> {
                    $value
                }
            )+
        }

        /// Every field of the JSON record, in the order it is written.
        pub const FIELDS: &[Field] = &[$(
            Field { name: stringify!($name), ty: $ty, doc: $doc, value: value::$name },
        )+];

        fields!(@write $($name)+);
    };
    (@write $first:ident $($name:ident)*) => {
        /// Every field, each after its key: `{"ts":` first, then `,"id":`
        /// and so on (without the closing brace).
        #[inline(always)]
        pub(super) fn write_json(w: &mut JsonWriter<'_>, t: &Transaction, clock: &Context<'_>) {
            w.field(concat!("{\"", stringify!($first), "\":"), value::$first(t, clock));
            $(w.field(concat!(",\"", stringify!($name), "\":"), value::$name(t, clock));)*
        }
    };
}

/// Whether a transaction is DNS one can read (not an encrypted connection).
fn readable(t: &Transaction) -> bool {
    t.kind != Kind::Encrypted
}

fields! {
    ts: "string",
        "When the query was first seen: RFC 3339, UTC, with microseconds.",
        |t, c| Value::Time(c.real_ns(t.mono_ns));
    id: "number or null",
        "The DNS transaction id; null for an encrypted connection.",
        |t, _| Value::Num(readable(t).then_some(u64::from(t.id)));
    qname: "string or null",
        "The question name (null for an encrypted connection), without the trailing dot \
         (`\".\"` for the root). Bytes outside printable ASCII, and `\".\"` or `\"\\\"` \
         inside a label, are escaped as dig does (`\"\\027\"`, `\"\\.\"`).",
        |t, _| Value::Str(readable(t).then_some(t.qname.as_str()));
    qtype: "string or null",
        "`A`, `AAAA`, `MX`, ..., or `TYPE<n>`; null for an encrypted connection.",
        |t, _| Value::Word(readable(t).then(|| dns::qtype_name(t.qtype)));
    rcode: "string",
        "`NOERROR`, `NXDOMAIN`, `SERVFAIL`, ..., `RCODE<n>`, `TIMEOUT` for a query \
         unanswered after `--timeout`, `UNREACHABLE` for a query an ICMP error failed (see \
         `icmp`), or `ENCRYPTED` for a DoT or DoQ connection. A `late` or `duplicate` \
         record has its own answer's.",
        |t, _| Value::Word(Some(t.rcode_name()));
    latency_ms: "number or null",
        "Milliseconds from the query to the response, measured at the observation point \
         nearest the client (for `UNREACHABLE` to the ICMP error, for a `late` or \
         `duplicate` record to that answer); null for `TIMEOUT`.",
        |t, _| Value::Ms(t.latency_ns);
    client_ip: "string", "The address that asked.", |t, _| Value::Ip(Some(t.client));
    client_port: "number", "The port that asked.",
        |t, _| Value::Num(Some(u64::from(t.client_port)));
    server_ip: "string", "The address that was asked.", |t, _| Value::Ip(Some(t.server));
    server_port: "number", "The port that was asked.",
        |t, _| Value::Num(Some(u64::from(t.server_port)));
    proto: "string", "The transport: `udp` or `tcp`.",
        |t, _| Value::Word(Some(t.proto.as_str().into()));
    interface: "string", "The interface where the query was first seen.",
        |t, _| Value::Str(Some(&t.interface));
    pid: "number or null",
        "The process that sent the query; null when the query did not leave in that \
         process's own context (a wrong process is worse than none).",
        |t, _| Value::Num(t.pid.map(u64::from));
    comm: "string or null",
        "That process's name, as in `/proc/PID/comm`; null when `pid` is.",
        |t, _| Value::Str(t.comm.as_deref());
    container_id: "string or null",
        "The id of the container that sent the query (64 hex digits), from the cgroup of its \
         socket or process; null outside a container, or when not known.",
        |_, c| Value::Str(c.who.and_then(|w| w.container_id.as_deref()));
    container: "string or null",
        "That container's name, as kubelet or its runtime named it; null when not known.",
        |_, c| Value::Str(c.who.and_then(|w| w.container.as_deref()));
    pod: "string or null",
        "The Kubernetes pod that sent the query, as kubelet's `/var/log/pods` names it (no \
         API server is asked); null outside a pod, or when not known.",
        |_, c| Value::Str(c.who.and_then(|w| w.pod.as_deref()));
    namespace: "string or null", "That pod's namespace; null when `pod` is.",
        |_, c| Value::Str(c.who.and_then(|w| w.namespace.as_deref()));
    unit: "string or null",
        "The systemd unit of a host process outside any container (`nginx.service`); null \
         otherwise, or when not known.",
        |_, c| Value::Str(c.who.and_then(|w| w.unit.as_deref()));
    kind: "string",
        "`transaction` (a query and its response, `TIMEOUT` or `UNREACHABLE`), `late` (an \
         answer that came after the query's `TIMEOUT` record), `duplicate` (another answer \
         to a query already answered), `announcement` (an mDNS answer to no query, with \
         `--announcements`) or `encrypted` (a DoT or DoQ connection). A `late` or \
         `duplicate` record is about a transaction already reported.",
        |t, _| Value::Word(Some(t.kind.as_str().into()));
    service: "string", "`dns`, `mdns`, `dot` or `doq`.",
        |t, _| Value::Word(Some(t.service.as_str().into()));
    qclass: "string or null",
        "`IN`, `CH`, ...; null for an encrypted connection.",
        |t, _| Value::Word(readable(t).then(|| dns::qclass_name(t.qclass)));
    opcode: "string or null",
        "`QUERY`, `NOTIFY`, `UPDATE`, ...; null for an encrypted connection.",
        |t, _| Value::Word(readable(t).then(|| dns::opcode_name(t.opcode())));
    flags: "array of strings",
        "Header flags in dig's order: `aa`, `tc`, `rd`, `ra`, `ad`, `cd` (`rd` and `cd` \
         from the query, the others from the response).",
        |t, _| Value::Flags(t);
    truncated: "bool", "Whether the response had TC set.", |t, _| Value::Bool(t.truncated());
    answers: "number or null",
        "Records in the response's answer section; null without a response (`TIMEOUT`, \
         `UNREACHABLE`).",
        |t, _| Value::Num(t.rflags.is_some().then_some(u64::from(t.ancount)));
    authority: "number or null",
        "Records in the response's authority section; null without a response.",
        |t, _| Value::Num(t.rflags.is_some().then_some(u64::from(t.nscount)));
    additional: "number or null",
        "Records in the response's additional section; null without a response.",
        |t, _| Value::Num(t.rflags.is_some().then_some(u64::from(t.arcount)));
    query_size: "number or null",
        "Size of the query's DNS message in bytes; null for an announcement or an \
         encrypted connection.",
        |t, _| Value::Num(
            (readable(t) && t.kind != Kind::Announcement).then_some(u64::from(t.query_size)),
        );
    response_size: "number or null",
        "Size of the response's DNS message in bytes; null without a response.",
        |t, _| Value::Num(t.response_size.map(u64::from));
    duration_ms: "number or null",
        "An encrypted connection's duration, first packet to last; null otherwise.",
        |t, _| Value::Ms(t.duration_ns);
    bytes_sent: "number or null",
        "An encrypted connection's payload bytes from client to server; null otherwise.",
        |t, _| Value::Num((!readable(t)).then_some(t.bytes_out));
    bytes_received: "number or null",
        "An encrypted connection's payload bytes from server to client; null otherwise.",
        |t, _| Value::Num((!readable(t)).then_some(t.bytes_in));
    netns: "number",
        "Inode of the network namespace of the observation point, as in \
         `/proc/PID/ns/net`.",
        |t, _| Value::Num(Some(u64::from(t.netns)));
    ifindex: "number", "The interface's index in that namespace.",
        |t, _| Value::Num(Some(u64::from(t.ifindex)));
    direction: "string",
        "`egress` or `ingress`: which way the query was going where it was first seen.",
        |t, _| Value::Word(Some(t.direction.as_str().into()));
    backend_ip: "string or null",
        "Where NAT delivered the query: the DNAT destination (a Service's backend, when \
         `server_ip` is the Service's virtual IP); null without DNAT.",
        |t, _| Value::Ip(t.backend_ip);
    backend_port: "number or null", "The port NAT delivered the query to; null without DNAT.",
        |t, _| Value::Num(t.backend_port.map(u64::from));
    nat_ip: "string or null",
        "The query's source address after SNAT or masquerade (the node's, for a pod's query \
         that leaves the node); null without SNAT.",
        |t, _| Value::Ip(t.nat_ip);
    nat_port: "number or null", "The query's source port after SNAT; null without SNAT.",
        |t, _| Value::Num(t.nat_port.map(u64::from));
    backend_latency_ms: "number or null",
        "Milliseconds of the leg beyond NAT: from the query's first sighting as NAT \
         delivered it (leaving toward the backend) to the first sighting of the answer before \
         NAT translates it back; null when not measured.",
        |t, _| Value::Ms(t.backend_ns);
    first_rcode: "string or null",
        "On a `duplicate` record, the rcode of the answer that completed the transaction \
         (`UNREACHABLE` when an ICMP error did); null otherwise.",
        |t, _| Value::Word(t.first_rcode.map(|r| r.name()));
    icmp: "string or null",
        "On `UNREACHABLE`, the ICMP or ICMPv6 error: `port-unreachable`, `host-unreachable`, \
         `net-unreachable`, `admin-prohibited`, ..., or `type<T>-code<C>`; null otherwise.",
        |t, _| Value::Word(t.icmp.map(|i| i.name()));
    icmp_from: "string or null",
        "On `UNREACHABLE`, the address that sent the ICMP error; null otherwise.",
        |t, _| Value::Ip(t.icmp.map(|i| i.from));
    cgroup_id: "number or null",
        "The cgroup (v2) of the socket the query was sent from, read as it left (so also \
         for a process that has exited since): the inode of the cgroup's directory; null \
         when the query was only seen arriving. Where only cgroup v1 is mounted, the v2 \
         root's (1), which names nothing.",
        |t, _| Value::Num(t.cgroup_id);
    suspicion: "object or null",
        "Why the transaction looks suspicious: `{\"score\": 0-100, \"reasons\": [{\"kind\", \"text\"}]}` \
         with kinds `unauthorized_resolver`, `unique_subdomains`, `type_volume`, `long_name`, \
         `long_label`, `unusual_type`, `large_answer`, `generated_name`, `nxdomain_burst` (see \
         SECURITY SIGNALS in the man page); null when nothing is.",
        |_, c| Value::Suspicion(c.suspicion);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain text of the docs is what the man page said before there
    /// was one table; the backticks pair up, and outside them there is
    /// nothing Markdown would read as markup.
    #[test]
    fn docs_are_plain_outside_backticks() {
        for f in FIELDS {
            let parts: Vec<&str> = f.doc.split('`').collect();
            assert!(parts.len() % 2 == 1, "unpaired backtick in {}", f.name);
            for outside in parts.iter().step_by(2) {
                assert!(
                    !outside.contains(['\\', '<', '>', '|', '*', '_', '[', ']', '#']),
                    "{}: {outside:?} needs backticks",
                    f.name
                );
            }
            assert!(["string", "number", "bool", "array of strings", "object"]
                .iter()
                .any(|ty| f.ty == *ty || f.ty == format!("{ty} or null")));
        }
        let mut names = JSON_FIELDS.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FIELDS.len(), "a name twice");
    }

    #[test]
    fn cells_of_unknown_fields_are_empty() {
        let t = crate::output::tests::txn(|_| {});
        let clock = Clock::fixed(crate::output::tests::EPOCH);
        assert_eq!(cell("no_such_field", &t, &clock), "-");
        assert_eq!(cell("qname", &t, &clock), "www.example.com");
        assert_eq!(cell("flags", &t, &clock), "rd,ra");
        assert_eq!(cell("latency_ms", &t, &clock), "2.5");
        assert_eq!(cell("ts", &t, &clock), "2026-11-27T18:00:01.000000Z");
    }
}
