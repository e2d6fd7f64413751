//! DTO throughput of `xcp-transport-eth` against plain sockets, over loopback, in one run.
//!
//! For each case the baseline blasts the same number of bytes through a plain socket in writes
//! or datagrams of the size the transport's packer fills, and the transport case sends packed DTOs from an `EthServer`
//! (the slave) to an `EthClient` (the master), which unpacks every packet and counts counter
//! gaps. Runs alternate baseline and transport, and the medians are compared.
//!
//! `cargo bench -p xcp-transport-eth --bench throughput` (or `cargo xtask bench`).
//! Set `XCP_BENCH_RUNS` for more repetitions (default 7).

#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use xcp_transport::{PacketRx, PacketTx, Transport};
use xcp_transport_eth::baseline::{Measured, median, plain_tcp, plain_udp};
use xcp_transport_eth::{EthConfig, EthServer, Protocol, ServerConfig, connect};

const LOOPBACK: &str = "127.0.0.1:0";

fn transport(protocol: Protocol, config: EthConfig, dtos: usize, dto_len: usize) -> Measured {
    let server = EthServer::bind(ServerConfig {
        bind: LOOPBACK.parse().expect("literal"),
        eth: config,
        ..ServerConfig::new(protocol)
    })
    .expect("bind");
    let addr: SocketAddr = server.local_addr();
    let (mut stx, mut srx) = server.split();
    let (mut mtx, mut mrx) = connect(addr, protocol, &config).expect("connect").split();
    mtx.send_now(&[0xFF, 0x00]).expect("CONNECT");
    srx.recv(Duration::from_secs(5))
        .expect("recv")
        .expect("CONNECT arrives");
    let start = Instant::now();
    let slave = thread::spawn(move || {
        let mut dto = vec![0u8; dto_len];
        for i in 0..dtos {
            dto[0] = (i % 0xFB).to_le_bytes()[0];
            // UDP: a full buffer loses datagrams; the master counts them from the CTR.
            let _ = stx.send(&dto);
        }
        let _ = stx.flush();
        (stx, srx)
    });
    let mut bytes = 0u64;
    let mut packets = 0usize;
    let mut last = start;
    let quiet = match protocol {
        Protocol::Tcp => Duration::from_secs(5),
        Protocol::Udp => Duration::from_millis(100),
    };
    while packets < dtos {
        match mrx.recv(quiet) {
            Ok(Some(p)) => {
                bytes += p.len() as u64;
                packets += 1;
                last = Instant::now();
            }
            Ok(None) | Err(_) => break,
        }
    }
    drop(slave.join().expect("slave"));
    let stats = mrx.stats();
    Measured {
        bytes,
        elapsed: last - start,
        lost: stats.lost + (dtos - packets) as u64 - stats.lost.min((dtos - packets) as u64),
    }
}

fn mb(rate: f64) -> String {
    format!("{:8.0} MB/s", rate / 1e6)
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument selects cases by substring.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let runs: usize = std::env::var("XCP_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    let dto_len = 256;
    let tcp_total = 256 << 20;
    let udp_total = 64 << 20;
    let cases: [(&str, Protocol, usize, usize); 3] = [
        ("tcp 64 KiB segments", Protocol::Tcp, 65536, tcp_total),
        ("tcp 1472-byte segments", Protocol::Tcp, 1472, tcp_total / 4),
        ("udp 1472-byte datagrams", Protocol::Udp, 1472, udp_total),
    ];
    println!(
        "DTOs of {dto_len} bytes, {runs} alternating runs per case, medians (payload bytes; XCP headers not counted)"
    );
    for (name, protocol, segment, total) in cases {
        if filter.as_ref().is_some_and(|f| !name.contains(f.as_str())) {
            continue;
        }
        let config = EthConfig {
            max_datagram: 1472,
            tcp_segment: segment,
            ..EthConfig::default()
        };
        let per_segment = segment / (dto_len + 4);
        let dtos = total / dto_len;
        let mut base = Vec::new();
        let mut ours = Vec::new();
        let mut lost_base = 0;
        let mut lost_ours = 0;
        for _ in 0..runs {
            // The baseline writes segments of the size the packer fills.
            let wire = per_segment * (dto_len + 4);
            let b = match protocol {
                Protocol::Tcp => plain_tcp(total, wire),
                Protocol::Udp => plain_udp(total / wire, wire),
            }
            .expect("the plain-socket baseline runs on loopback");
            lost_base += b.lost;
            base.push(b.rate());
            let o = transport(protocol, config, dtos, dto_len);
            lost_ours += o.lost;
            ours.push(o.rate());
        }
        let (b, o) = (median(base), median(ours));
        println!(
            "{name:<26} plain {}  xcp-transport-eth {}  ratio {:5.1} %  ({per_segment} DTOs per segment; lost: plain {lost_base}, xcp {lost_ours} packets over all runs)",
            mb(b),
            mb(o),
            100.0 * o / b
        );
    }
}
