//! Transactions as JSON lines, written by hand: the fields and their order
//! come from [`super::fields`], the bytes are what serde_json wrote for
//! them before (a test in `super::tests` keeps the two identical).

use super::clock::{Clock, TimeCache};
use super::escape::json_str;
use super::fields::{self, Value};
use super::ip::push_ip;
use crate::record::Transaction;

/// One JSON object (no newline).
///
/// Written field by field into `out`, without core::fmt: this runs for
/// every transaction, where building a record and serializing it with
/// serde cost a dozen allocations. The sink calls [`json_line_cached`],
/// which formats the date once a second instead of once a line.
pub fn json_line(t: &Transaction, clock: &Clock, out: &mut String) {
    json_line_cached(t, clock, &mut TimeCache::default(), out);
}

/// [`json_line`], reusing the date and time of the previous line's
/// timestamp when it is in the same second; allocates nothing then.
pub fn json_line_cached(t: &Transaction, clock: &Clock, times: &mut TimeCache, out: &mut String) {
    let mut w = JsonWriter { out, times };
    fields::write_json(&mut w, t, clock);
    w.out.push('}');
}

/// Writes each field after its key (`{"ts":` for the first, `,"id":` and
/// so on after it). [`JsonWriter::field`] is inlined into the field
/// table's writer, so that each key is copied as a constant, without a
/// call to memcpy, and only the code for the field's kind of value is
/// left at each field.
pub(super) struct JsonWriter<'a> {
    out: &'a mut String,
    times: &'a mut TimeCache,
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
            Value::Ip(ip) => {
                out.push('"');
                push_ip(out, ip);
                out.push('"');
            }
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
        }
    }
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
