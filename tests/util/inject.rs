//! Raw frames into the kernel's transmit path: whatever bytes a test wants
//! on the wire, malformed DNS included, with no socket or server in the way.
//!
//! An AF_PACKET socket opened inside a namespace and bound to one of its
//! interfaces hands a complete Ethernet frame to `dev_queue_xmit`, so the
//! frame passes `net_dev_queue` on that interface and, on a veth,
//! `netif_receive_skb` on its peer: the same two sightings as a query that
//! a program sends.

#![allow(dead_code)]

use std::ffi::CString;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU16, Ordering};

use super::tap::{ipv4_checksum, udp_checksum};
use super::Netns;

const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
const IPPROTO_UDP: u8 = 17;

/// A raw packet socket bound to one interface of one namespace.
pub struct Injector {
    fd: OwnedFd,
    ifindex: i32,
}

impl Injector {
    /// Opens the socket inside `ns` (a socket keeps the namespace it was
    /// created in) and binds it to `ifname` there.
    pub fn open(ns: &Netns, ifname: &str) -> Injector {
        let ifname = CString::new(ifname).expect("interface name without NUL");
        ns.within(move || {
            // Protocol 0: the socket only sends; it receives nothing.
            // SAFETY: socket() has no memory-safety preconditions.
            let raw =
                unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
            assert!(
                raw >= 0,
                "AF_PACKET socket: {}",
                std::io::Error::last_os_error()
            );
            // SAFETY: raw is a fresh descriptor that nothing else owns.
            let fd = unsafe { OwnedFd::from_raw_fd(raw) };
            // SAFETY: ifname is a valid NUL-terminated string.
            let ifindex = unsafe { libc::if_nametoindex(ifname.as_ptr()) } as i32;
            assert!(ifindex > 0, "no interface {ifname:?} in the namespace");
            let addr = sockaddr(ifindex, 0, [0; 6]);
            // SAFETY: addr is a sockaddr_ll of the size passed.
            let rc = unsafe {
                libc::bind(
                    fd.as_raw_fd(),
                    (&addr as *const libc::sockaddr_ll).cast(),
                    std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
                )
            };
            assert_eq!(
                rc,
                0,
                "bind to {ifname:?}: {}",
                std::io::Error::last_os_error()
            );
            Injector { fd, ifindex }
        })
    }

    /// Sends one Ethernet frame as it is. Its EtherType becomes the
    /// packet's protocol, as a driver would set it.
    pub fn send(&self, frame: &[u8]) {
        assert!(frame.len() >= 14, "an Ethernet frame has a 14-byte header");
        let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
        let mut dst = [0u8; 6];
        dst.copy_from_slice(&frame[..6]);
        let addr = sockaddr(self.ifindex, ethertype, dst);
        // SAFETY: frame and addr are valid for the lengths passed.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&addr as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        assert_eq!(
            n,
            frame.len() as isize,
            "sendto: {}",
            std::io::Error::last_os_error()
        );
    }
}

fn sockaddr(ifindex: i32, ethertype: u16, dst: [u8; 6]) -> libc::sockaddr_ll {
    // SAFETY: sockaddr_ll is plain integers; all zeroes is a valid value.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = ethertype.to_be();
    sll.sll_ifindex = ifindex;
    sll.sll_halen = 6;
    sll.sll_addr[..6].copy_from_slice(&dst);
    sll
}

/// An Ethernet frame carrying one UDP datagram with `payload`, from `src`
/// to `dst` (both IPv4 or both IPv6), with correct IP and UDP checksums so
/// that the receiving stack takes it too.
pub fn udp_frame(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: SocketAddr,
    dst: SocketAddr,
    payload: &[u8],
) -> Vec<u8> {
    let udp_len = 8 + payload.len();
    let udp_len16 = u16::try_from(udp_len).expect("payload fits a UDP datagram");
    let mut udp = Vec::with_capacity(udp_len);
    udp.extend_from_slice(&src.port().to_be_bytes());
    udp.extend_from_slice(&dst.port().to_be_bytes());
    udp.extend_from_slice(&udp_len16.to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);

    let mut frame = Vec::with_capacity(14 + 40 + udp_len);
    frame.extend_from_slice(&dst_mac);
    frame.extend_from_slice(&src_mac);
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let csum = udp_checksum(s, d, &udp);
            udp[6..8].copy_from_slice(&csum.to_be_bytes());
            frame.extend_from_slice(&ETH_P_IP.to_be_bytes());
            frame.extend_from_slice(&ipv4_header(s, d, udp_len16));
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let csum = udp6_checksum(s, d, &udp);
            udp[6..8].copy_from_slice(&csum.to_be_bytes());
            frame.extend_from_slice(&ETH_P_IPV6.to_be_bytes());
            frame.extend_from_slice(&ipv6_header(s, d, udp_len16));
        }
        _ => panic!("{src} and {dst} are of different families"),
    }
    frame.extend_from_slice(&udp);
    frame
}

fn ipv4_header(src: Ipv4Addr, dst: Ipv4Addr, udp_len: u16) -> [u8; 20] {
    static IDENT: AtomicU16 = AtomicU16::new(1);
    let total = 20 + udp_len;
    let ident = IDENT.fetch_add(1, Ordering::Relaxed);
    let mut h = [0u8; 20];
    h[0] = 0x45;
    h[2..4].copy_from_slice(&total.to_be_bytes());
    h[4..6].copy_from_slice(&ident.to_be_bytes());
    h[6] = 0x40; // DF, offset 0
    h[8] = 64;
    h[9] = IPPROTO_UDP;
    h[12..16].copy_from_slice(&src.octets());
    h[16..20].copy_from_slice(&dst.octets());
    let csum = ipv4_checksum(&h);
    h[10..12].copy_from_slice(&csum.to_be_bytes());
    h
}

fn ipv6_header(src: Ipv6Addr, dst: Ipv6Addr, udp_len: u16) -> [u8; 40] {
    let mut h = [0u8; 40];
    h[0] = 0x60;
    h[4..6].copy_from_slice(&udp_len.to_be_bytes());
    h[6] = IPPROTO_UDP;
    h[7] = 64;
    h[8..24].copy_from_slice(&src.octets());
    h[24..40].copy_from_slice(&dst.octets());
    h
}

/// The UDP checksum over the IPv6 pseudo-header (RFC 8200 8.1), which
/// IPv6 requires: a datagram with checksum 0 is dropped by the receiver.
fn udp6_checksum(src: Ipv6Addr, dst: Ipv6Addr, segment: &[u8]) -> u16 {
    let mut data = Vec::with_capacity(40 + segment.len());
    data.extend_from_slice(&src.octets());
    data.extend_from_slice(&dst.octets());
    data.extend_from_slice(&(segment.len() as u32).to_be_bytes());
    data.extend_from_slice(&[0, 0, 0, IPPROTO_UDP]);
    data.extend_from_slice(segment);
    match ipv4_checksum(&data) {
        0 => 0xffff,
        c => c,
    }
}
