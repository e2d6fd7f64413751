//! Recordings written and read back; a writer killed with SIGKILL mid-recording; damaged,
//! truncated and foreign files.
#![allow(
    clippy::cast_possible_truncation,
    reason = "test indices and offsets are small"
)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use xcp_recorder::{Codec, Error, Reader, Recorder, WriterOptions};

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("xcp-recorder-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("dir");
    d.join(name)
}

/// Frame `i`: a DTO-like packet of `i % 300 + 1` bytes, the first 8 the little-endian index.
fn frame(i: u64) -> Vec<u8> {
    let len = (i % 300 + 1) as usize;
    let mut f = vec![u8::try_from(i % 251).unwrap_or(0); len.max(8)];
    f[..8].copy_from_slice(&i.to_le_bytes());
    f.truncate(len.max(8));
    f
}

fn write(path: &Path, n: u64, options: WriterOptions) -> xcp_recorder::Summary {
    let mut r =
        Recorder::create(path, &serde_json::json!({"test": "recording"}), options).expect("create");
    for i in 0..n {
        r.push(1_000_000 + i * 1_000 + (i % 7), &frame(i));
    }
    r.close().expect("close")
}

fn read_all(r: &mut Reader) -> (Vec<(u64, Vec<u8>)>, Vec<String>) {
    let mut frames = r.frames();
    let (mut ok, mut errs) = (Vec::new(), Vec::new());
    while let Some(f) = frames.next_frame() {
        match f {
            Ok((t, b)) => ok.push((t, b.to_vec())),
            Err(e) => errs.push(e.to_string()),
        }
    }
    (ok, errs)
}

#[test]
fn frames_come_back_as_written_with_every_codec() {
    let mut sizes = Vec::new();
    for codec in [Codec::Lz4, Codec::None, Codec::Zstd] {
        let path = temp(&format!("round-{codec:?}.xcprec"));
        let n = 200_000;
        let s = write(
            &path,
            n,
            WriterOptions {
                codec,
                block_bytes: 256 << 10,
                ..WriterOptions::default()
            },
        );
        assert_eq!((s.frames, s.dropped_frames), (n, 0));
        assert!(s.blocks > 10, "{s:?}");
        let mut r = Reader::open(&path).expect("open");
        assert!(r.salvage().closed);
        assert_eq!(r.salvage().frames, n);
        assert_eq!(r.meta()["test"], "recording");
        let (frames, errs) = read_all(&mut r);
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(frames.len() as u64, n);
        for (i, (t, f)) in frames.iter().enumerate() {
            let i = i as u64;
            assert_eq!(*t, 1_000_000 + i * 1_000 + (i % 7), "time of frame {i}");
            assert_eq!(*f, frame(i), "frame {i}");
        }
        // Seeking by time: the block holding frame 150 000 is found by binary search.
        let t = 1_000_000 + 150_000 * 1_000;
        let b = r.block_at(t);
        let info = r.blocks()[b];
        assert!(info.header.first_ns <= t && info.header.last_ns >= t);
        // And the frames from that time on: frame 150 000 first, every later one after it.
        let mut from = r.frames_from(t);
        let mut i = 150_000;
        while let Some(f) = from.next_frame() {
            let (ft, fb) = f.expect("intact");
            assert_eq!((ft, fb), (1_000_000 + i * 1_000 + (i % 7), &frame(i)[..]));
            i += 1;
        }
        assert_eq!(i, n, "every frame after the time");
        // Each frame's own time finds it, the first block's included.
        for k in [0, 1, 4_999, 5_000, n - 1] {
            let at = 1_000_000 + k * 1_000 + (k % 7);
            let first = r.frames_from(at).next_frame().map(|f| f.expect("intact").0);
            assert_eq!(first, Some(at), "from frame {k}");
        }
        let past = 1_000_000 + n * 1_000 + 7;
        assert!(
            r.frames_from(past).next_frame().is_none(),
            "nothing after the end"
        );
        let size = std::fs::metadata(&path).expect("size").len();
        if codec != Codec::None {
            assert!(
                size < s.bytes / 2,
                "{codec:?} halves these frames at least: {size} of {}",
                s.bytes
            );
        }
        sizes.push(size);
        let _ = std::fs::remove_file(&path);
    }
    assert!(
        sizes[2] < sizes[0],
        "zstd packs tighter than LZ4: {sizes:?} (LZ4, none, zstd)"
    );
}

/// Threads of this process with `name`, on Linux (`None` elsewhere).
fn threads_named(name: &str) -> Option<usize> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    Some(
        tasks
            .filter_map(Result::ok)
            .filter(|t| {
                std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == name)
            })
            .count(),
    )
}

#[test]
fn frames_left_early_stop_their_reading_thread() {
    let path = temp("left-early.xcprec");
    let n = 50_000;
    write(
        &path,
        n,
        WriterOptions {
            block_bytes: 64 << 10,
            ..WriterOptions::default()
        },
    );
    let mut r = Reader::open(&path).expect("open");
    assert!(r.blocks().len() > 5);
    for taken in [0, 1, 3, 2_000] {
        let mut frames = r.frames();
        for i in 0..taken {
            let (t, f) = frames.next_frame().expect("a frame").expect("intact");
            assert_eq!((t, f), (1_000_000 + i * 1_000 + (i % 7), &frame(i)[..]));
        }
        drop(frames);
        // The thread reading ahead is gone with the iterator, not left blocked. Counted where
        // this test has its process to itself (nextest's way), not beside other tests' readers.
        let alone = std::env::var("NEXTEST_EXECUTION_MODE").is_ok_and(|m| m == "process-per-test");
        if let Some(left) = threads_named("xcprec-read").filter(|_| alone) {
            assert_eq!(left, 0, "after taking {taken} frames");
        }
    }
    // And the next iteration reads every frame again.
    let (frames, errs) = read_all(&mut r);
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(frames.len() as u64, n);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn every_pushed_frame_is_written_or_counted_as_dropped() {
    let path = temp("accounting.xcprec");
    let n = 300_000;
    let s = write(
        &path,
        n,
        WriterOptions {
            queue_chunks: 1,
            chunk_bytes: 512,
            wait_when_full: Duration::ZERO,
            ..WriterOptions::default()
        },
    );
    assert_eq!(s.frames + s.dropped_frames, n, "{s:?}");
    let r = Reader::open(&path).expect("open");
    assert_eq!(r.salvage().frames, s.frames);
    assert_eq!(r.salvage().dropped_frames, s.dropped_frames);
    let _ = std::fs::remove_file(&path);
}

/// The child side of the crash test: records until killed.
#[test]
fn crash_child() {
    let Some(path) = std::env::var_os("XCP_RECORDER_CRASH_CHILD") else {
        return;
    };
    let mut r = Recorder::create(
        Path::new(&path),
        &serde_json::json!({"test": "crash"}),
        WriterOptions {
            block_age: Duration::from_millis(10),
            block_bytes: 64 << 10,
            ..WriterOptions::default()
        },
    )
    .expect("create");
    let start = Instant::now();
    let mut i = 0u64;
    // Bounded, in case nobody kills it.
    while start.elapsed() < Duration::from_secs(60) {
        r.push(i * 1_000, &frame(i));
        i += 1;
        if i.is_multiple_of(1000) {
            std::thread::yield_now();
        }
    }
}

#[test]
fn a_recording_killed_mid_block_is_salvaged_up_to_its_last_complete_block() {
    let path = temp("crash.xcprec");
    let _ = std::fs::remove_file(&path);
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "crash_child", "--nocapture"])
        .env("XCP_RECORDER_CRASH_CHILD", &path)
        .spawn()
        .expect("child starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::metadata(&path).map_or(0, |m| m.len()) < 2 << 20 {
        assert!(
            Instant::now() < deadline,
            "the child writes 2 MB within 30 s"
        );
        std::thread::yield_now();
    }
    // SIGKILL: no destructor, no index.
    child.kill().expect("kill -9");
    child.wait().expect("reaped");
    let mut r = Reader::open(&path).expect("an unclosed recording opens");
    let s = r.salvage().clone();
    assert!(!s.closed);
    assert!(s.blocks >= 3 && s.frames > 1000, "{s:?}");
    assert!(s.damaged.is_empty(), "{s:?}");
    let (frames, errs) = read_all(&mut r);
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(frames.len() as u64, s.frames);
    // Nothing is missing inside what was salvaged: frames 0, 1, 2, … in order.
    for (i, (t, f)) in frames.iter().enumerate() {
        let i = i as u64;
        assert_eq!(
            (*t, f.as_slice()),
            (i * 1_000, frame(i).as_slice()),
            "frame {i}"
        );
    }
    let _ = std::fs::remove_file(&path);
}

#[test]
fn damage_is_reported_with_block_and_offset_and_the_rest_is_read() {
    let path = temp("damaged.xcprec");
    let n = write(
        &path,
        50_000,
        WriterOptions {
            block_bytes: 64 << 10,
            ..WriterOptions::default()
        },
    )
    .frames;
    let blocks = Reader::open(&path).expect("open").blocks().to_vec();
    assert!(blocks.len() > 5);
    let mut bytes = std::fs::read(&path).expect("read");
    // One byte in the payload of block 2.
    let at = blocks[2].offset as usize + 44 + 10;
    bytes[at] ^= 0x55;
    std::fs::write(&path, &bytes).expect("write");
    let mut r = Reader::open(&path).expect("open");
    let (frames, errs) = read_all(&mut r);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].contains("block 2") && errs[0].contains(&blocks[2].offset.to_string()),
        "{}",
        errs[0]
    );
    assert_eq!(
        frames.len() as u64,
        n - u64::from(blocks[2].header.frames),
        "everything but block 2"
    );

    // Truncated in the middle of block 4, the index gone with it: the walk stops there.
    let cut = blocks[4].offset as usize + 100;
    std::fs::write(&path, &bytes[..cut]).expect("truncate");
    let mut r = Reader::open(&path).expect("open");
    assert!(!r.salvage().closed);
    assert_eq!(r.salvage().truncated_at, Some(blocks[4].offset));
    assert_eq!(r.blocks().len(), 4);
    let (_, errs) = read_all(&mut r);
    assert_eq!(errs.len(), 1, "block 2 is still damaged: {errs:?}");

    // A damaged block header in an unclosed file: the walk resynchronises on the next block.
    let mut cut_bytes = bytes[..blocks[5].offset as usize].to_vec();
    cut_bytes[blocks[1].offset as usize + 5] ^= 0xFF;
    std::fs::write(&path, &cut_bytes).expect("write");
    let r = Reader::open(&path).expect("open");
    assert_eq!(r.salvage().damaged.len(), 1, "{:?}", r.salvage());
    assert_eq!(r.salvage().damaged[0].0, blocks[1].offset);
    assert_eq!(r.blocks().len(), 4, "blocks 0, 2, 3, 4");

    let _ = std::fs::remove_file(&path);
}

#[test]
fn foreign_and_empty_files_are_refused_clearly() {
    let path = temp("foreign.bin");
    std::fs::write(&path, b"hello, this is not a recording at all.....").expect("write");
    let err = Reader::open(&path).expect_err("foreign");
    assert!(matches!(err, Error::NotARecording { .. }), "{err}");
    assert!(err.to_string().contains("magic"), "{err}");
    std::fs::write(&path, b"").expect("write");
    let err = Reader::open(&path).expect_err("empty");
    assert!(
        err.to_string().contains("shorter than the file header"),
        "{err}"
    );
    let err = Reader::open(&temp("missing.xcprec")).expect_err("missing");
    assert!(matches!(err, Error::Io { .. }), "{err}");
    let _ = std::fs::remove_file(&path);
}
