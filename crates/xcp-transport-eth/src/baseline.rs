//! Plain-socket reference runs: what loopback carries with no XCP at all.
//!
//! Throughput benchmarks (this crate's `throughput` bench, `xcpkit-cli`'s `ecu_stress` bench)
//! quote their rate as a ratio against one of these, measured in the same run on the same
//! machine, because absolute numbers on a shared machine say little.
//! Both runs move fixed-size writes (TCP) or datagrams (UDP) from a writer thread to a reader
//! on 127.0.0.1 and time the reader from its first wait to the last byte.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::thread;
use std::time::{Duration, Instant};

const LOOPBACK: &str = "127.0.0.1:0";

/// The outcome of one reference run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measured {
    /// Payload bytes that arrived.
    pub bytes: u64,
    /// From the reader's start to the last byte.
    pub elapsed: Duration,
    /// What did not arrive: bytes short (TCP) or datagrams missing (UDP).
    pub lost: u64,
}

impl Measured {
    /// Bytes per second.
    pub fn rate(&self) -> f64 {
        self.bytes as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

fn joined<T>(h: thread::JoinHandle<io::Result<T>>) -> io::Result<T> {
    h.join()
        .map_err(|_| io::Error::other("the baseline writer thread panicked"))?
}

/// Sends `total` bytes over one TCP connection in writes of `write` bytes (Nagle off).
///
/// # Errors
///
/// Binding, connecting or writing on loopback failed.
pub fn plain_tcp(total: usize, write: usize) -> io::Result<Measured> {
    let listener = TcpListener::bind(LOOPBACK)?;
    let addr = listener.local_addr()?;
    let write = write.max(1);
    let writer = thread::spawn(move || -> io::Result<()> {
        let mut s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        let chunk = vec![0x5A; write];
        let mut sent = 0;
        while sent < total {
            let n = write.min(total - sent);
            s.write_all(chunk.get(..n).unwrap_or(&chunk))?;
            sent += n;
        }
        Ok(())
    });
    let (mut s, _) = listener.accept()?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut buf = vec![0; 64 * 1024];
    let mut got = 0usize;
    let start = Instant::now();
    while got < total {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    let elapsed = start.elapsed();
    joined(writer)?;
    Ok(Measured {
        bytes: got as u64,
        elapsed,
        lost: (total - got.min(total)) as u64,
    })
}

/// Sends `datagrams` UDP datagrams of `size` bytes as fast as the socket takes them.
///
/// The receive buffer is 4 MiB; a full buffer drops datagrams (loopback does that silently),
/// and the reader counts what is missing once nothing has arrived for 100 ms.
///
/// # Errors
///
/// Binding or configuring a loopback socket failed.
pub fn plain_udp(datagrams: usize, size: usize) -> io::Result<Measured> {
    let rx = UdpSocket::bind(LOOPBACK)?;
    socket2::SockRef::from(&rx).set_recv_buffer_size(4 << 20)?;
    rx.set_read_timeout(Some(Duration::from_millis(100)))?;
    let addr = rx.local_addr()?;
    let start = Instant::now();
    let writer = thread::spawn(move || -> io::Result<()> {
        let tx = UdpSocket::bind(LOOPBACK)?;
        tx.connect(addr)?;
        let d = vec![0x5A; size];
        for _ in 0..datagrams {
            // A full buffer loses the datagram; the reader counts the loss.
            let _ = tx.send(&d);
        }
        Ok(())
    });
    let mut buf = vec![0; 65536];
    let mut got = 0u64;
    let mut n_got = 0usize;
    let mut last = start;
    while n_got < datagrams {
        match rx.recv(&mut buf) {
            Ok(n) => {
                got += n as u64;
                n_got += 1;
                last = Instant::now();
            }
            Err(_) => break,
        }
    }
    joined(writer)?;
    Ok(Measured {
        bytes: got,
        elapsed: last - start,
        lost: (datagrams - n_got) as u64,
    })
}

/// The median of `values` (the upper one of the middle two for an even count; 0 when empty).
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_references_deliver_what_they_send() {
        let t = plain_tcp(1 << 20, 4096).expect("tcp");
        assert_eq!((t.bytes, t.lost), (1 << 20, 0));
        assert!(t.rate() > 0.0);
        // 64 small datagrams fit any receive buffer.
        let u = plain_udp(64, 100).expect("udp");
        assert_eq!((u.bytes, u.lost), (6400, 0));
    }

    #[test]
    fn median_picks_the_middle() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 3.0);
        assert_eq!(median(Vec::new()), 0.0);
    }
}
