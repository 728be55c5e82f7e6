//! Conntrack cleanup over ctnetlink (`NFNL_SUBSYS_CTNETLINK`), without the `conntrack`
//! tool: one dump of the IPv4 table, then one `IPCTNL_MSG_CT_DELETE` per matching entry,
//! naming it by its original tuple (and zone), the way `conntrack -D` does it. Spawning the
//! tool four times per task cost about 60 ms of teardown; this costs well under one.
//!
//! The messages are small and fixed, so they are built by hand on a `netlink-sys` socket:
//! `nlmsghdr`, `nfgenmsg`, then netlink attributes (`linux/netfilter/nfnetlink_conntrack.h`).

use std::io;
use std::net::Ipv4Addr;

use netlink_sys::{protocols::NETLINK_NETFILTER, Socket, SocketAddr};

use crate::Protocol;

const NFNL_SUBSYS_CTNETLINK: u16 = 1;
const IPCTNL_MSG_CT_NEW: u16 = 0;
const IPCTNL_MSG_CT_GET: u16 = 1;
const IPCTNL_MSG_CT_DELETE: u16 = 2;

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;
const NLA_TYPE_MASK: u16 = 0x3fff;

const CTA_TUPLE_ORIG: u16 = 1;
const CTA_TUPLE_REPLY: u16 = 2;
const CTA_ZONE: u16 = 18;
const CTA_TUPLE_IP: u16 = 1;
const CTA_TUPLE_PROTO: u16 = 2;
const CTA_IP_V4_SRC: u16 = 1;
const CTA_PROTO_NUM: u16 = 1;
const CTA_PROTO_DST_PORT: u16 = 3;

const AF_INET: u8 = 2;
const NLMSG_HDR: usize = 16;
const NFGENMSG: usize = 4;

/// What a task leaves in the table: flows from its address, flows answered by it (NATed
/// to it), and flows to its host ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Doomed<'a> {
    pub ip: Option<Ipv4Addr>,
    pub ports: &'a [(Protocol, u16)],
}

/// The parts of an entry the filter looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Tuple {
    src: Option<Ipv4Addr>,
    proto: Option<u8>,
    dst_port: Option<u16>,
}

fn proto_num(p: Protocol) -> u8 {
    match p {
        Protocol::Tcp => 6,
        Protocol::Udp => 17,
    }
}

impl Doomed<'_> {
    /// `conntrack -D -s IP`, `--reply-src IP`, `-p P --orig-port-dst PORT`, in one test.
    fn matches(&self, orig: &Tuple, reply: &Tuple) -> bool {
        if self.ip.is_some() && (orig.src == self.ip || reply.src == self.ip) {
            return true;
        }
        self.ports
            .iter()
            .any(|(p, port)| orig.proto == Some(proto_num(*p)) && orig.dst_port == Some(*port))
    }
}

/// One attribute of a netlink message: its type (flags masked off) and payload.
fn attrs(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8], &[u8])> {
    std::iter::from_fn(move || {
        if buf.len() < 4 {
            return None;
        }
        let len = usize::from(u16::from_ne_bytes([buf[0], buf[1]]));
        let kind = u16::from_ne_bytes([buf[2], buf[3]]) & NLA_TYPE_MASK;
        if len < 4 || len > buf.len() {
            return None;
        }
        let whole = &buf[..len];
        let payload = &buf[4..len];
        buf = &buf[((len + 3) & !3).min(buf.len())..];
        Some((kind, payload, whole))
    })
}

fn tuple(nested: &[u8]) -> Tuple {
    let mut t = Tuple::default();
    for (kind, payload, _) in attrs(nested) {
        match kind {
            CTA_TUPLE_IP => {
                for (k, v, _) in attrs(payload) {
                    if let (CTA_IP_V4_SRC, Ok(b)) = (k, <[u8; 4]>::try_from(v)) {
                        t.src = Some(Ipv4Addr::from(b));
                    }
                }
            }
            CTA_TUPLE_PROTO => {
                for (k, v, _) in attrs(payload) {
                    match (k, v) {
                        (CTA_PROTO_NUM, [n]) => t.proto = Some(*n),
                        (CTA_PROTO_DST_PORT, [a, b]) => {
                            t.dst_port = Some(u16::from_be_bytes([*a, *b]))
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    t
}

/// The delete request's attributes for one dumped entry (`CTA_*` after `nfgenmsg`), if the
/// filter wants it gone: its original tuple and its zone, copied as the kernel sent them.
fn doomed_entry(entry: &[u8], doomed: &Doomed<'_>) -> Option<Vec<u8>> {
    let (mut orig, mut reply, mut key, mut zone) = (None, None, None, None);
    for (kind, payload, whole) in attrs(entry) {
        match kind {
            CTA_TUPLE_ORIG => {
                orig = Some(tuple(payload));
                key = Some(whole);
            }
            CTA_TUPLE_REPLY => reply = Some(tuple(payload)),
            CTA_ZONE => zone = Some(whole),
            _ => {}
        }
    }
    let (orig, reply, key) = (orig?, reply.unwrap_or_default(), key?);
    if !doomed.matches(&orig, &reply) {
        return None;
    }
    let mut out = Vec::with_capacity(key.len() + 8);
    for a in [Some(key), zone].into_iter().flatten() {
        out.extend_from_slice(a);
        out.resize((out.len() + 3) & !3, 0);
    }
    Some(out)
}

fn message(kind: u16, flags: u16, seq: u32, attrs: &[u8]) -> Vec<u8> {
    let len = NLMSG_HDR + NFGENMSG + attrs.len();
    let mut m = Vec::with_capacity(len);
    m.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_ne_bytes());
    m.extend_from_slice(&((NFNL_SUBSYS_CTNETLINK << 8) | kind).to_ne_bytes());
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    // nfgenmsg: family, version NFNETLINK_V0, res_id 0 (big-endian).
    m.extend_from_slice(&[AF_INET, 0, 0, 0]);
    m.extend_from_slice(attrs);
    m
}

/// One netlink message out of a datagram: (type, payload after the header, seq).
fn messages(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8], u32)> {
    std::iter::from_fn(move || {
        if buf.len() < NLMSG_HDR {
            return None;
        }
        let len = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        if len < NLMSG_HDR || len > buf.len() {
            return None;
        }
        let kind = u16::from_ne_bytes([buf[4], buf[5]]);
        let seq = u32::from_ne_bytes([buf[8], buf[9], buf[10], buf[11]]);
        let payload = &buf[NLMSG_HDR..len];
        buf = &buf[((len + 3) & !3).min(buf.len())..];
        Some((kind, payload, seq))
    })
}

/// The errno of an `NLMSG_ERROR` payload (0 is an ACK).
fn errno(payload: &[u8]) -> i32 {
    payload
        .get(..4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map_or(0, |b| -i32::from_ne_bytes(b))
}

/// Deletes every IPv4 entry `doomed` names; returns how many went. Entries that vanish
/// between the dump and the delete (ENOENT) count as gone.
pub(crate) fn flush(doomed: &Doomed<'_>) -> io::Result<usize> {
    if doomed.ip.is_none() && doomed.ports.is_empty() {
        return Ok(0);
    }
    let mut sock = Socket::new(NETLINK_NETFILTER)?;
    sock.bind_auto()?;
    sock.connect(&SocketAddr::new(0, 0))?;
    sock.send(
        &message(IPCTNL_MSG_CT_GET, NLM_F_REQUEST | NLM_F_DUMP, 1, &[]),
        0,
    )?;
    let mut victims = Vec::new();
    'dump: loop {
        let (buf, _) = sock.recv_from_full()?;
        for (kind, payload, seq) in messages(&buf) {
            if seq != 1 {
                continue;
            }
            match kind {
                NLMSG_DONE => break 'dump,
                NLMSG_ERROR => match errno(payload) {
                    0 => break 'dump,
                    e => return Err(io::Error::from_raw_os_error(e)),
                },
                k if k == (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW => {
                    if let Some(v) = payload
                        .get(NFGENMSG..)
                        .and_then(|e| doomed_entry(e, doomed))
                    {
                        victims.push(v);
                    }
                }
                _ => {}
            }
        }
    }
    let mut gone = 0;
    for (i, attrs) in victims.iter().enumerate() {
        let seq = u32::try_from(i).unwrap_or(u32::MAX).wrapping_add(2);
        sock.send(
            &message(IPCTNL_MSG_CT_DELETE, NLM_F_REQUEST | NLM_F_ACK, seq, attrs),
            0,
        )?;
        'ack: loop {
            let (buf, _) = sock.recv_from_full()?;
            for (kind, payload, s) in messages(&buf) {
                if kind == NLMSG_ERROR && s == seq {
                    match errno(payload) {
                        0 => gone += 1,
                        e if e == libc::ENOENT => {}
                        e => return Err(io::Error::from_raw_os_error(e)),
                    }
                    break 'ack;
                }
            }
        }
    }
    Ok(gone)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(kind: u16, payload: &[u8]) -> Vec<u8> {
        let mut a = Vec::new();
        a.extend_from_slice(&u16::try_from(4 + payload.len()).expect("len").to_ne_bytes());
        a.extend_from_slice(&kind.to_ne_bytes());
        a.extend_from_slice(payload);
        a.resize((a.len() + 3) & !3, 0);
        a
    }

    fn nested(kind: u16, parts: &[Vec<u8>]) -> Vec<u8> {
        attr(kind | 0x8000, &parts.concat())
    }

    fn tuple_attr(kind: u16, src: [u8; 4], dst: [u8; 4], proto: u8, dport: u16) -> Vec<u8> {
        nested(
            kind,
            &[
                nested(CTA_TUPLE_IP, &[attr(CTA_IP_V4_SRC, &src), attr(2, &dst)]),
                nested(
                    CTA_TUPLE_PROTO,
                    &[
                        attr(CTA_PROTO_NUM, &[proto]),
                        attr(2, &1234u16.to_be_bytes()),
                        attr(CTA_PROTO_DST_PORT, &dport.to_be_bytes()),
                    ],
                ),
            ],
        )
    }

    #[test]
    fn entries_are_matched_like_conntrack_d_and_named_by_their_original_tuple() {
        let ip = Ipv4Addr::new(10, 240, 9, 5);
        let ports = [(Protocol::Udp, 20901)];
        let doomed = Doomed {
            ip: Some(ip),
            ports: &ports,
        };
        let entry = |o: Vec<u8>, r: Vec<u8>| [o, r, attr(CTA_ZONE, &0u16.to_be_bytes())].concat();
        // From the task.
        let orig = tuple_attr(CTA_TUPLE_ORIG, ip.octets(), [1, 1, 1, 1], 6, 80);
        let e = entry(
            orig.clone(),
            tuple_attr(CTA_TUPLE_REPLY, [1, 1, 1, 1], ip.octets(), 6, 1234),
        );
        let req = doomed_entry(&e, &doomed).expect("matched");
        assert_eq!(&req[..orig.len()], &orig[..]);
        assert_eq!(req.len(), orig.len() + 8, "the zone goes along");
        // NATed to the task: only the reply comes from it.
        let e = entry(
            tuple_attr(CTA_TUPLE_ORIG, [127, 0, 0, 1], [127, 0, 0, 1], 6, 9999),
            tuple_attr(CTA_TUPLE_REPLY, ip.octets(), [127, 0, 0, 1], 6, 1234),
        );
        assert!(doomed_entry(&e, &doomed).is_some());
        // To its host port, before any reply.
        let e = entry(
            tuple_attr(
                CTA_TUPLE_ORIG,
                [192, 168, 1, 2],
                [192, 168, 1, 1],
                17,
                20901,
            ),
            tuple_attr(
                CTA_TUPLE_REPLY,
                [192, 168, 1, 1],
                [192, 168, 1, 2],
                17,
                1234,
            ),
        );
        assert!(doomed_entry(&e, &doomed).is_some());
        // Same port, other protocol; someone else's flow.
        for (proto, port) in [(6, 20901), (17, 53)] {
            let e = entry(
                tuple_attr(
                    CTA_TUPLE_ORIG,
                    [192, 168, 1, 2],
                    [192, 168, 1, 1],
                    proto,
                    port,
                ),
                tuple_attr(
                    CTA_TUPLE_REPLY,
                    [192, 168, 1, 1],
                    [192, 168, 1, 2],
                    proto,
                    1234,
                ),
            );
            assert!(doomed_entry(&e, &doomed).is_none());
        }
        // Garbage does not panic.
        assert!(doomed_entry(&[0xff; 7], &doomed).is_none());
    }
}
