//! The JSON writer: the kinds of value a field has, and how each is
//! written, by hand, with the bytes serde_json wrote for them before (a
//! test in `super::tests` keeps the two identical). Which fields, in which
//! order, is [`super::fields`]'s table.

use std::borrow::Cow;
use std::net::IpAddr;

use super::clock::TimeCache;
use super::escape::json_str;
use super::ip::push_ip;
use crate::record::Transaction;
use crate::security::Suspicion;

/// A field's value, of one of the kinds the JSON writer knows how to
/// write.
#[derive(Debug)]
pub enum Value<'a> {
    /// Nanoseconds since 1970: an RFC 3339 string in UTC.
    Time(u64),
    /// A number, or null.
    Num(Option<u64>),
    /// Text from the wire or the system (names, interfaces, comms), which
    /// JSON escapes; or null.
    Str(Option<&'a str>),
    /// A word of dnstrace's own (type and rcode names, "udp", ...), which
    /// never needs escaping; or null.
    Word(Option<Cow<'static, str>>),
    /// Nanoseconds, written as milliseconds with microsecond resolution;
    /// or null.
    Ms(Option<u64>),
    /// An address, or null.
    Ip(Option<IpAddr>),
    Bool(bool),
    /// The transaction's header flags, an array of strings.
    Flags(&'a Transaction),
    /// Its security signals: an object, or null.
    Suspicion(Option<&'a Suspicion>),
}

/// Writes each field after its key (`{"ts":` for the first, `,"id":` and
/// so on after it). [`JsonWriter::field`] is inlined into the field
/// table's writer, so that each key is copied as a constant, without a
/// call to memcpy, and only the code for the field's kind of value is
/// left at each field.
pub(super) struct JsonWriter<'a> {
    pub(super) out: &'a mut String,
    pub(super) times: &'a mut TimeCache,
}

impl JsonWriter<'_> {
    #[inline(always)]
    pub(super) fn field(&mut self, key: &'static str, value: Value<'_>) {
        let out = &mut *self.out;
        out.push_str(key);
        match value {
            Value::Time(real_ns) => {
                out.push('"');
                self.times.push_rfc3339_micros(real_ns, out);
                out.push('"');
            }
            Value::Num(n) => push_num(out, n),
            Value::Str(Some(s)) => json_str(out, s),
            Value::Str(None) => out.push_str("null"),
            // Written here rather than by a function: inlined, each word
            // of a constant is copied as a constant.
            Value::Word(Some(w)) => {
                out.push('"');
                out.push_str(&w);
                out.push('"');
            }
            Value::Word(None) => out.push_str("null"),
            Value::Ms(ns) => push_ms(out, ns),
            Value::Ip(Some(ip)) => {
                out.push('"');
                push_ip(out, ip);
                out.push('"');
            }
            Value::Ip(None) => out.push_str("null"),
            Value::Bool(b) => out.push_str(if b { "true" } else { "false" }),
            Value::Flags(t) => {
                out.push('[');
                for (i, f) in t.flags().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push('"');
                    out.push_str(f);
                    out.push('"');
                }
                out.push(']');
            }
            Value::Suspicion(s) => push_suspicion(out, s),
        }
    }
}

/// `{"score":N,"reasons":[{"kind":"...","text":"..."},...]}`, or null.
pub(super) fn push_suspicion(out: &mut String, s: Option<&Suspicion>) {
    let Some(s) = s else {
        out.push_str("null");
        return;
    };
    out.push_str("{\"score\":");
    out.push_str(itoa::Buffer::new().format(s.score));
    out.push_str(",\"reasons\":[");
    for (i, r) in s.reasons.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"kind\":\"");
        out.push_str(r.kind.as_str());
        out.push_str("\",\"text\":");
        json_str(out, &r.text);
        out.push('}');
    }
    out.push_str("]}");
}

fn push_num(out: &mut String, v: Option<u64>) {
    match v {
        Some(n) => out.push_str(itoa::Buffer::new().format(n)),
        None => out.push_str("null"),
    }
}

/// Nanoseconds as milliseconds with microsecond resolution, always with
/// a decimal point (so that JSON readers see a float, as before).
pub(super) fn push_ms(out: &mut String, ns: Option<u64>) {
    let Some(ns) = ns else {
        out.push_str("null");
        return;
    };
    let us = ns / 1000;
    out.push_str(itoa::Buffer::new().format(us / 1000));
    out.push('.');
    let frac = us % 1000;
    // Three digits, trailing zeros dropped (but one kept).
    let d = [
        b'0' + (frac / 100) as u8,
        b'0' + (frac / 10 % 10) as u8,
        b'0' + (frac % 10) as u8,
    ];
    let mut n = 3;
    while n > 1 && d[n - 1] == b'0' {
        n -= 1;
    }
    for &b in &d[..n] {
        out.push(char::from(b));
    }
}
