//! A fake *remote* DNS resolver behind a TAP device.
//!
//! The TAP device lives inside an existing network namespace. The kernel sees
//! the resolver as a host on the far side of an Ethernet link: queries leave
//! through the TAP (we read them from its fd) and replies are written into the
//! fd, so they enter the kernel only through the receive path
//! (`netif_receive_skb`), never through a local transmit.
//!
//! The frame-building helpers are public and pure so that the including test
//! crate can unit-test them.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The made-up unicast MAC address of the remote resolver.
pub const REMOTE_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x53];
/// `REMOTE_MAC` as `ip neigh` wants it.
pub const REMOTE_MAC_STR: &str = "02:00:00:00:00:53";

/// `_IOW('T', 202, int)`
const TUNSETIFF: u64 = 0x4004_54ca;
const IFF_TAP: i16 = 0x0002;
const IFF_NO_PI: i16 = 0x1000;
/// Size of `struct ifreq` on Linux x86_64/aarch64.
const IFREQ_SIZE: usize = 40;
/// `IFNAMSIZ`, including the terminating NUL.
const IFNAMSIZ: usize = 16;

const ETH_HDR_LEN: usize = 14;
const ETHERTYPE_IPV4: u16 = 0x0800;
const IPV4_HDR_LEN: usize = 20;
const IPPROTO_UDP: u8 = 17;
const UDP_HDR_LEN: usize = 8;
const DNS_HDR_LEN: usize = 12;
const DNS_PORT: u16 = 53;

/// How long the worker waits in `poll()` before looking at the stop flag.
const POLL_SLICE: Duration = Duration::from_millis(20);

/// A simulated remote DNS resolver on the far side of a TAP device.
pub struct TapResolver {
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl TapResolver {
    /// Creates TAP device `ifname` inside the existing network namespace `netns`
    /// (a name as used by `ip netns`, i.e. /var/run/netns/<netns> exists), gives it
    /// the address `local_cidr` (e.g. "10.77.9.1/24"), brings it up, adds a permanent
    /// neighbour entry for `remote_ip` with a made-up unicast MAC (so no ARP is needed),
    /// and starts a thread that answers every DNS query (IPv4/UDP to remote_ip:53)
    /// read from the TAP with a DNS response written back into the TAP after `delay`.
    pub fn start(
        netns: &str,
        ifname: &str,
        local_cidr: &str,
        remote_ip: Ipv4Addr,
        delay: Duration,
    ) -> io::Result<TapResolver> {
        if ifname.is_empty() || ifname.len() >= IFNAMSIZ || ifname.contains(['\0', '/']) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad interface name {ifname:?}"),
            ));
        }
        if netns.is_empty() || netns.contains(['\0', '/']) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad namespace name {netns:?}"),
            ));
        }

        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicUsize::new(0));
        let (ready_tx, ready_rx) = mpsc::channel::<io::Result<()>>();

        let ns_path = format!("/var/run/netns/{netns}");
        let name = ifname.to_owned();
        let worker_stop = Arc::clone(&stop);
        let worker_answered = Arc::clone(&answered);
        let thread = thread::Builder::new()
            .name(format!("tap-{ifname}"))
            .spawn(move || {
                let tap = match open_tap_in_netns(&ns_path, &name) {
                    Ok(tap) => {
                        let _ = ready_tx.send(Ok(()));
                        tap
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                serve(tap, remote_ip, delay, &worker_stop, &worker_answered);
            })?;

        // From here on, dropping `resolver` (e.g. on an error return) stops the
        // thread and closes the TAP fd, which removes the device.
        let resolver = TapResolver {
            stop,
            answered,
            thread: Some(thread),
        };

        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(io::Error::other(format!(
                    "TAP worker thread for {ifname} exited before opening the device"
                )))
            }
        }

        let remote = remote_ip.to_string();
        run_ip(&["-n", netns, "addr", "add", local_cidr, "dev", ifname])?;
        run_ip(&["-n", netns, "link", "set", ifname, "up"])?;
        run_ip(&[
            "-n",
            netns,
            "neigh",
            "replace",
            &remote,
            "lladdr",
            REMOTE_MAC_STR,
            "dev",
            ifname,
            "nud",
            "permanent",
        ])?;

        Ok(resolver)
    }

    /// How many responses were written so far.
    pub fn answered(&self) -> usize {
        self.answered.load(Ordering::SeqCst)
    }
}

impl Drop for TapResolver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            // The worker owns the TAP fd; it is closed (and the non-persistent
            // device removed) when the thread returns.
            let _ = thread.join();
        }
    }
}

fn run_ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip").args(args).output().map_err(|e| {
        io::Error::new(e.kind(), format!("cannot run `ip {}`: {e}", args.join(" ")))
    })?;
    if out.status.success() {
        return Ok(());
    }
    Err(io::Error::other(format!(
        "`ip {}` failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    )))
}

/// Moves the calling thread into the network namespace at `ns_path`, then
/// creates the TAP device there. Returns the (non-blocking) TAP fd.
fn open_tap_in_netns(ns_path: &str, ifname: &str) -> io::Result<File> {
    let ns = File::open(ns_path)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot open {ns_path}: {e}")))?;
    // SAFETY: plain syscall on a valid fd; it only changes this thread's netns.
    if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("setns({ns_path}): {e}")));
    }
    drop(ns);

    // The tun fd takes the netns of the opener, so open only after setns().
    let tap = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("/dev/net/tun")
        .map_err(|e| io::Error::new(e.kind(), format!("cannot open /dev/net/tun: {e}")))?;

    let mut ifr = [0u8; IFREQ_SIZE];
    ifr[..ifname.len()].copy_from_slice(ifname.as_bytes());
    ifr[IFNAMSIZ..IFNAMSIZ + 2].copy_from_slice(&(IFF_TAP | IFF_NO_PI).to_ne_bytes());
    // SAFETY: `ifr` is a 40-byte buffer laid out as `struct ifreq`, valid for
    // the duration of the call; the kernel reads and may write within it.
    let rc = unsafe { libc::ioctl(tap.as_raw_fd(), TUNSETIFF as _, ifr.as_mut_ptr()) };
    if rc != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!("TUNSETIFF {ifname} in {ns_path}: {e}"),
        ));
    }
    Ok(tap)
}

/// The worker loop: reads frames, queues replies with their due time, writes
/// them when due. Returns (closing the TAP) once `stop` is set.
fn serve(
    mut tap: File,
    remote_ip: Ipv4Addr,
    delay: Duration,
    stop: &AtomicBool,
    answered: &AtomicUsize,
) {
    let fd = tap.as_raw_fd();
    let mut buf = vec![0u8; 65536 + ETH_HDR_LEN];
    let mut pending: VecDeque<(Instant, Vec<u8>)> = VecDeque::new();

    while !stop.load(Ordering::SeqCst) {
        // Send whatever is due. The delay is constant, so the queue is in
        // due-time order.
        let now = Instant::now();
        while pending.front().is_some_and(|(due, _)| *due <= now) {
            if let Some((_, reply)) = pending.pop_front() {
                if tap.write(&reply).is_ok() {
                    answered.fetch_add(1, Ordering::SeqCst);
                }
            }
        }

        let wait = pending
            .front()
            .map(|(due, _)| due.saturating_duration_since(now))
            .unwrap_or(POLL_SLICE)
            .min(POLL_SLICE);
        // Round up so that we do not wake up just before the due time.
        let timeout_ms = wait.as_micros().div_ceil(1000) as libc::c_int;

        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: `pfd` is a valid pollfd for the duration of the call.
        let rc = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        if rc < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            break;
        }
        if rc == 0 {
            continue;
        }
        if pfd.revents & (libc::POLLERR | libc::POLLNVAL) != 0 {
            break;
        }
        if pfd.revents & libc::POLLIN == 0 {
            // e.g. POLLHUP without data; avoid spinning.
            thread::sleep(Duration::from_millis(10));
            continue;
        }

        // Drain everything queued on the TAP.
        loop {
            match tap.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if let Some(reply) = build_reply(&buf[..n], REMOTE_MAC, remote_ip) {
                        pending.push_back((Instant::now() + delay, reply));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    thread::sleep(Duration::from_millis(10));
                    break;
                }
            }
            if stop.load(Ordering::SeqCst) {
                break;
            }
        }
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at + 2)?;
    Some(u16::from_be_bytes([s[0], s[1]]))
}

/// Adds `data` as big-endian 16-bit words to `sum` (an odd last byte is
/// padded with zero), without folding.
fn sum_words(data: &[u8], mut sum: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for w in &mut chunks {
        sum = sum.wrapping_add(u32::from(u16::from_be_bytes([w[0], w[1]])));
    }
    if let [last] = chunks.remainder() {
        sum = sum.wrapping_add(u32::from(*last) << 8);
    }
    sum
}

fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// The Internet checksum (RFC 1071) of `data`: the value to store in a
/// checksum field that was zero while summing. Over a header whose checksum
/// field is already correct it yields 0.
pub fn ipv4_checksum(data: &[u8]) -> u16 {
    !fold(sum_words(data, 0))
}

/// The UDP checksum of `segment` (UDP header + payload, with the checksum
/// field zero) over the IPv4 pseudo-header. Never returns 0 (0 means "no
/// checksum" in UDP over IPv4; a computed 0 is sent as 0xffff).
pub fn udp_checksum(src: Ipv4Addr, dst: Ipv4Addr, segment: &[u8]) -> u16 {
    let mut sum = sum_words(&src.octets(), 0);
    sum = sum_words(&dst.octets(), sum);
    sum = sum.wrapping_add(u32::from(IPPROTO_UDP));
    sum = sum.wrapping_add(segment.len() as u32);
    sum = sum_words(segment, sum);
    match !fold(sum) {
        0 => 0xffff,
        c => c,
    }
}

/// Offset just past the first question (name + qtype + qclass) of the DNS
/// message `dns`, whose question section starts at offset 12.
/// `None` if the question is truncated or uses reserved label types.
pub fn question_end(dns: &[u8]) -> Option<usize> {
    let mut pos = DNS_HDR_LEN;
    loop {
        let len = usize::from(*dns.get(pos)?);
        match len & 0xc0 {
            0x00 if len == 0 => {
                pos += 1;
                break;
            }
            0x00 => pos += 1 + len,
            // A compression pointer ends the name.
            0xc0 => {
                pos += 2;
                break;
            }
            _ => return None,
        }
    }
    let end = pos + 4;
    (end <= dns.len()).then_some(end)
}

/// If `frame` is an Ethernet frame carrying an IPv4/UDP DNS query to
/// `remote_ip`:53, the Ethernet frame of the reply `remote_ip` sends back
/// (from `remote_mac`): NOERROR, no records, the first question echoed.
/// `None` for anything else, including malformed frames.
pub fn build_reply(frame: &[u8], remote_mac: [u8; 6], remote_ip: Ipv4Addr) -> Option<Vec<u8>> {
    // Ethernet.
    if be16(frame, 12)? != ETHERTYPE_IPV4 {
        return None;
    }
    let query_mac = frame.get(6..12)?;

    // IPv4.
    let ip = frame.get(ETH_HDR_LEN..)?;
    let first = *ip.first()?;
    let ihl = usize::from(first & 0x0f) * 4;
    if first >> 4 != 4 || ihl < IPV4_HDR_LEN {
        return None;
    }
    let total_len = usize::from(be16(ip, 2)?);
    if total_len < ihl {
        return None;
    }
    let ip = ip.get(..total_len)?;
    // Fragments (MF set or a non-zero offset) are not handled.
    if be16(ip, 6)? & 0x3fff != 0 {
        return None;
    }
    if *ip.get(9)? != IPPROTO_UDP {
        return None;
    }
    let src_ip = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst_ip = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    if dst_ip != remote_ip {
        return None;
    }

    // UDP.
    let udp = ip.get(ihl..)?;
    let udp_len = usize::from(be16(udp, 4)?);
    if udp_len < UDP_HDR_LEN {
        return None;
    }
    let udp = udp.get(..udp_len)?;
    let src_port = be16(udp, 0)?;
    if be16(udp, 2)? != DNS_PORT {
        return None;
    }

    // DNS.
    let dns = udp.get(UDP_HDR_LEN..)?;
    if dns.len() < DNS_HDR_LEN || dns[2] & 0x80 != 0 {
        return None;
    }
    let question = if be16(dns, 4)? == 0 {
        &[][..]
    } else {
        dns.get(DNS_HDR_LEN..question_end(dns)?)?
    };
    let qdcount: u16 = if question.is_empty() { 0 } else { 1 };

    let dns_len = DNS_HDR_LEN + question.len();
    let udp_out_len = UDP_HDR_LEN + dns_len;
    let ip_out_len = IPV4_HDR_LEN + udp_out_len;
    let ip_total = u16::try_from(ip_out_len).ok()?;

    let mut out = Vec::with_capacity(ETH_HDR_LEN + ip_out_len);
    // Ethernet.
    out.extend_from_slice(query_mac);
    out.extend_from_slice(&remote_mac);
    out.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    // IPv4.
    let ip_start = out.len();
    out.extend_from_slice(&[0x45, 0x00]);
    out.extend_from_slice(&ip_total.to_be_bytes());
    out.extend_from_slice(&[0x00, 0x00]); // identification
    out.extend_from_slice(&[0x40, 0x00]); // DF, offset 0
    out.extend_from_slice(&[64, IPPROTO_UDP]);
    out.extend_from_slice(&[0x00, 0x00]); // checksum, below
    out.extend_from_slice(&remote_ip.octets());
    out.extend_from_slice(&src_ip.octets());
    let ip_csum = ipv4_checksum(&out[ip_start..ip_start + IPV4_HDR_LEN]);
    out[ip_start + 10..ip_start + 12].copy_from_slice(&ip_csum.to_be_bytes());
    // UDP.
    let udp_start = out.len();
    out.extend_from_slice(&DNS_PORT.to_be_bytes());
    out.extend_from_slice(&src_port.to_be_bytes());
    out.extend_from_slice(&(udp_out_len as u16).to_be_bytes());
    out.extend_from_slice(&[0x00, 0x00]); // checksum, below

    // DNS header: same id; QR | opcode | RD; RA, NOERROR.
    out.extend_from_slice(&dns[0..2]);
    out.push(0x80 | (dns[2] & 0x79));
    out.push(0x80);
    out.extend_from_slice(&qdcount.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(question);
    let udp_csum = udp_checksum(remote_ip, src_ip, &out[udp_start..]);
    out[udp_start + 6..udp_start + 8].copy_from_slice(&udp_csum.to_be_bytes());

    Some(out)
}
