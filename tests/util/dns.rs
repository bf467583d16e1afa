//! Just enough DNS to build queries and answers in tests.

#![allow(dead_code)]

/// Wire form of a dotted name ("." is the root).
pub fn encode_name(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

/// A message as DNS over TCP sends it: after its 2-byte length.
pub fn tcp_framed(msg: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(msg.len() + 2);
    f.extend_from_slice(&(msg.len() as u16).to_be_bytes());
    f.extend_from_slice(msg);
    f
}

pub fn build_query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut m = Vec::with_capacity(64);
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&0x0100u16.to_be_bytes()); // RD
    m.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    m.extend_from_slice(&encode_name(name));
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    m
}

/// The first question: (dotted lower-case name, qtype, offset past qclass).
pub fn parse_question(msg: &[u8]) -> Option<(String, u16, usize)> {
    let mut pos = 12;
    let mut labels = Vec::new();
    loop {
        let len = *msg.get(pos)? as usize;
        if len == 0 {
            pos += 1;
            break;
        }
        if len & 0xc0 != 0 {
            return None;
        }
        let label = msg.get(pos + 1..pos + 1 + len)?;
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
        pos += 1 + len;
    }
    let qtype = u16::from_be_bytes([*msg.get(pos)?, *msg.get(pos + 1)?]);
    msg.get(pos + 3)?;
    Some((labels.join("."), qtype, pos + 4))
}

pub fn rcode_value(name: &str) -> u16 {
    match name {
        "noerror" => 0,
        "formerr" => 1,
        "servfail" => 2,
        "nxdomain" => 3,
        "notimp" => 4,
        "refused" => 5,
        other => other.parse().unwrap_or(0),
    }
}

/// The answer the test responder gives: same id and question, QR, RA and
/// RD copied, the given rcode, and `answers` A records (192.0.2.x) for a
/// NOERROR answer to an A query. `tc` sets the truncation flag and drops
/// the answers, as a server does when a UDP reply would not fit.
pub fn build_response(query: &[u8], rcode: u16) -> Option<Vec<u8>> {
    build_response_with(query, rcode, 1, false)
}

pub fn build_response_with(query: &[u8], rcode: u16, answers: u16, tc: bool) -> Option<Vec<u8>> {
    let (_, qtype, end) = parse_question(query)?;
    let mut m = Vec::with_capacity(end + 16 * usize::from(answers));
    m.extend_from_slice(&query[..2]);
    let rd = u16::from_be_bytes([query[2], query[3]]) & 0x0100;
    let flags = 0x8000 | rd | 0x0080 | (rcode & 0xf) | if tc { 0x0200 } else { 0 };
    m.extend_from_slice(&flags.to_be_bytes());
    let n = if rcode == 0 && qtype == 1 && !tc {
        answers
    } else {
        0
    };
    m.extend_from_slice(&[0, 1]);
    m.extend_from_slice(&n.to_be_bytes());
    m.extend_from_slice(&[0, 0, 0, 0]);
    m.extend_from_slice(&query[12..end]);
    for i in 0..n {
        m.extend_from_slice(&[
            0xc0,
            12,
            0,
            1,
            0,
            1,
            0,
            0,
            0,
            60,
            0,
            4,
            192,
            0,
            2,
            (i % 250) as u8 + 1,
        ]);
    }
    Some(m)
}
