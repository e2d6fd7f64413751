//! STIM: the master sends DTOs, the slave writes them into registered memory at their event.
//!
//! Global variables and writable instances receive the data; calibration pages, predefined
//! lists, PID_OFF and locked STIM are refused; malformed STIM DTOs are counted, never
//! answered; a STIM list on an event runs before its DAQ lists; and data is never applied
//! half-written while the receive side keeps storing new payloads.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use common::Drive;
use xcp_proto::{
    Address, Command, DaqListNumber, ErrorCode, EventChannel, OdtEntry, Resources, Response,
};
use xcp_slave::{
    DemoSeedKey, ElementType, EventId, Field, Global, Meta, Slave, SlaveConfig, StructType,
};

/// The application's bypass structure, passed to `trigger_with_mut`.
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Bypass {
    torque: f32,
    mode: u16,
    flags: u8,
    _pad: u8,
    pattern: [u8; 16],
}

struct App {
    slave: Slave,
    event: EventId,
    target: Global<u32>,
    bits: Global<u8>,
    /// Event-relative base address of the `Bypass` instance.
    inst: Address,
    /// A calibration parameter (segment-relative address).
    param: Address,
}

fn app(config: SlaveConfig, protect: bool) -> App {
    let mut b = Slave::builder("stim").config(config);
    if protect {
        b = b.seed_key(Box::new(DemoSeedKey::new(b"secret", 4)));
    }
    let event = b.event("bypass", None, 0).expect("event");
    let target = b
        .global::<u32>("target", Some(event), Meta::default())
        .expect("global");
    let bits = b
        .global::<u8>("bits", Some(event), Meta::default())
        .expect("global");
    b.struct_type(StructType {
        name: "Bypass".into(),
        size: 24,
        fields: vec![
            Field::scalar("torque", 0, ElementType::F32, Meta::default()),
            Field::scalar("mode", 4, ElementType::U16, Meta::default()),
            Field::scalar("flags", 6, ElementType::U8, Meta::default()),
        ],
    })
    .expect("type");
    let inst = b.instance(event, "bypass", "Bypass", 0).expect("instance");
    let seg = b.cal_segment("params", &[0u32; 2]).expect("segment");
    let param = seg.address(0);
    let slave = b.build().expect("slave");
    App {
        slave,
        event,
        target,
        bits,
        inst,
        param,
    }
}

fn at(base: Address, offset: u32) -> Address {
    Address::new(base.ext, base.addr + offset)
}

fn whole(addr: Address, size: u8) -> OdtEntry {
    OdtEntry {
        bit_offset: 0xFF,
        size,
        addr,
    }
}

/// Allocates one list with one ODT per slice of `odts` and writes its entries.
fn configure(d: &mut Drive, odts: &[&[OdtEntry]]) {
    d.ok(Command::FreeDaq);
    d.ok(Command::AllocDaq { count: 1 });
    let daq = DaqListNumber(0);
    let count = u8::try_from(odts.len()).expect("few ODTs");
    d.ok(Command::AllocOdt { daq, count });
    for (odt, entries) in odts.iter().enumerate() {
        let odt = u8::try_from(odt).expect("few ODTs");
        let count = u8::try_from(entries.len()).expect("few entries");
        d.ok(Command::AllocOdtEntry { daq, odt, count });
    }
    for (odt, entries) in odts.iter().enumerate() {
        let odt = u8::try_from(odt).expect("few ODTs");
        d.ok(Command::SetDaqPtr { daq, odt, entry: 0 });
        for &entry in *entries {
            d.ok(Command::WriteDaq { entry });
        }
    }
}

fn set_mode(d: &mut Drive, daq: u16, mode: u8, event: EventId) -> Vec<Vec<u8>> {
    d.packets(Command::SetDaqListMode {
        mode,
        daq: DaqListNumber(daq),
        event: EventChannel(event.0),
        prescaler: 1,
        priority: 0,
    })
}

fn start(d: &mut Drive, daq: u16) -> Vec<Vec<u8>> {
    d.packets(Command::StartStopDaqList {
        mode: 1,
        daq: DaqListNumber(daq),
    })
}

/// A STIM DTO with the default identification field (ODT, fill, DAQ word, Intel).
fn stim_dto(daq: u16, odt: u8, data: &[u8]) -> Vec<u8> {
    let mut p = vec![odt, 0];
    p.extend_from_slice(&daq.to_le_bytes());
    p.extend_from_slice(data);
    p
}

#[test]
fn stim_writes_globals_at_the_event_and_only_then() {
    let a = app(SlaveConfig::default(), false);
    let mut d = Drive::new(&a.slave);
    d.connect();
    let bit5 = OdtEntry {
        bit_offset: 5,
        size: 1,
        addr: a.bits.address(),
    };
    configure(&mut d, &[&[whole(a.target.address(), 4), bit5]]);
    assert_eq!(set_mode(&mut d, 0, 0x02, a.event)[0][0], 0xFF);
    assert_eq!(start(&mut d, 0)[0][0], 0xFF);
    let mode = d.with(
        Command::GetDaqListMode {
            daq: DaqListNumber(0),
        },
        |r| match r {
            Response::DaqListMode(m) => m.mode,
            other => panic!("{other:?}"),
        },
    );
    assert_eq!(mode & 0x42, 0x42, "running, direction STIM");

    a.target.set(7);
    a.bits.set(0x01);
    let out = d.raw(&stim_dto(0, 0, &[0xEF, 0xBE, 0xAD, 0xDE, 1]));
    assert!(out.is_empty(), "a STIM DTO is never answered: {out:02x?}");
    assert_eq!(a.target.get(), 7, "nothing changes before the event");
    a.slave.event(a.event).expect("event").trigger();
    assert_eq!(a.target.get(), 0xDEAD_BEEF);
    assert_eq!(a.bits.get(), 0x21, "bit 5 set, bit 0 kept");

    // The data stays in force at later events (a bypass holds its value) until replaced;
    // a bit value of 0 clears the bit.
    a.target.set(1);
    d.raw(&stim_dto(0, 0, &[2, 0, 0, 0, 0]));
    a.slave.event(a.event).expect("event").trigger();
    assert_eq!(a.target.get(), 2);
    assert_eq!(a.bits.get(), 0x01);
    let s = a.slave.stats();
    assert_eq!(
        (s.stim_received, s.stim_rejected, s.stim_applied),
        (2, 0, 2)
    );
}

#[test]
fn stim_writes_a_writable_instance_and_counts_a_read_only_one() {
    let a = app(SlaveConfig::default(), false);
    let mut d = Drive::new(&a.slave);
    d.connect();
    configure(
        &mut d,
        &[&[
            whole(a.inst, 4),
            whole(at(a.inst, 4), 2),
            whole(at(a.inst, 6), 1),
        ]],
    );
    set_mode(&mut d, 0, 0x02, a.event);
    start(&mut d, 0);
    let mut data = 12.5f32.to_le_bytes().to_vec();
    data.extend_from_slice(&3u16.to_le_bytes());
    data.push(0x80);
    d.raw(&stim_dto(0, 0, &data));
    let ev = a.slave.event(a.event).expect("event");

    let mut b = Bypass::default();
    ev.trigger_with_mut(&mut b);
    assert_eq!((b.torque, b.mode, b.flags), (12.5, 3, 0x80));

    // Triggered read-only, the instance cannot be written: counted as errors (the three
    // adjacent entries are one copy, so at least one error), not applied.
    let before = a.slave.stats();
    let b2 = Bypass::default();
    ev.trigger_with(&b2);
    let after = a.slave.stats();
    assert!(after.sample_errors > before.sample_errors);
}

#[test]
fn stim_runs_before_the_daq_lists_of_its_event() {
    let a = app(SlaveConfig::default(), false);
    let mut d = Drive::new(&a.slave);
    d.connect();
    d.ok(Command::FreeDaq);
    d.ok(Command::AllocDaq { count: 2 });
    for daq in [DaqListNumber(0), DaqListNumber(1)] {
        d.ok(Command::AllocOdt { daq, count: 1 });
    }
    for daq in [DaqListNumber(0), DaqListNumber(1)] {
        d.ok(Command::AllocOdtEntry {
            daq,
            odt: 0,
            count: 1,
        });
    }
    for daq in [DaqListNumber(0), DaqListNumber(1)] {
        d.ok(Command::SetDaqPtr {
            daq,
            odt: 0,
            entry: 0,
        });
        d.ok(Command::WriteDaq {
            entry: whole(a.target.address(), 4),
        });
    }
    // List 0 measures (started first), list 1 stimulates the same variable.
    set_mode(&mut d, 0, 0x00, a.event);
    set_mode(&mut d, 1, 0x02, a.event);
    start(&mut d, 0);
    start(&mut d, 1);
    a.target.set(5);
    d.raw(&stim_dto(1, 0, &77u32.to_le_bytes()));
    a.slave.event(a.event).expect("event").trigger();
    let mut dto = Vec::new();
    assert!(a.slave.pop_dto(&mut dto), "the DAQ list sampled");
    assert_eq!(&dto[..4], &[0, 0, 0, 0], "ODT 0 of list 0");
    assert_eq!(
        &dto[4..],
        &77u32.to_le_bytes(),
        "it measured the stimulated value"
    );
    assert!(!a.slave.pop_dto(&mut dto), "a STIM list sends nothing");
}

#[test]
fn malformed_or_misdirected_stim_dtos_are_counted_not_answered() {
    let a = app(SlaveConfig::default(), false);
    let mut d = Drive::new(&a.slave);
    // Before CONNECT.
    assert!(d.raw(&stim_dto(0, 0, &[1, 2, 3, 4])).is_empty());
    d.connect();
    configure(&mut d, &[&[whole(a.target.address(), 4)]]);
    set_mode(&mut d, 0, 0x02, a.event);
    // Not running yet.
    assert!(d.raw(&stim_dto(0, 0, &[1, 2, 3, 4])).is_empty());
    start(&mut d, 0);
    a.target.set(9);
    for bad in [
        stim_dto(0, 0, &[1, 2, 3]),    // shorter than the ODT
        stim_dto(0, 1, &[1, 2, 3, 4]), // no ODT 1
        stim_dto(1, 0, &[1, 2, 3, 4]), // no list 1
        vec![0],                       // truncated identification field
        vec![0, 0, 0],
    ] {
        assert!(d.raw(&bad).is_empty(), "{bad:02x?} answered");
    }
    a.slave.event(a.event).expect("event").trigger();
    assert_eq!(a.target.get(), 9, "nothing was applied");
    let s = a.slave.stats();
    assert_eq!(
        (s.stim_received, s.stim_rejected, s.stim_applied),
        (0, 7, 0)
    );
}

#[test]
fn stim_is_refused_where_it_cannot_write() {
    let a = app(SlaveConfig::default(), false);
    let mut d = Drive::new(&a.slave);
    d.connect();
    // Calibration memory changes through the calibration pages only.
    configure(&mut d, &[&[whole(a.param, 4)]]);
    set_mode(&mut d, 0, 0x02, a.event);
    assert_eq!(
        start(&mut d, 0)[0][..2],
        [0xFE, 0x23],
        "ERR_WRITE_PROTECTED"
    );
    // The same list measures the parameter fine.
    set_mode(&mut d, 0, 0x00, a.event);
    assert_eq!(start(&mut d, 0)[0][0], 0xFF);
    d.ok(Command::StartStopDaqList {
        mode: 0,
        daq: DaqListNumber(0),
    });
    // A STIM DTO must carry its identification field.
    assert_eq!(set_mode(&mut d, 0, 0x22, a.event)[0][..2], [0xFE, 0x22]);
}

#[test]
fn locked_stim_refuses_the_list_and_its_dtos() {
    let config = SlaveConfig {
        protected: Resources::STIM,
        ..SlaveConfig::default()
    };
    let a = app(config, true);
    let mut d = Drive::new(&a.slave);
    d.connect();
    configure(&mut d, &[&[whole(a.target.address(), 4)]]);
    set_mode(&mut d, 0, 0x02, a.event);
    assert_eq!(
        ErrorCode::from(start(&mut d, 0)[0][1]),
        ErrorCode::AccessLocked
    );
    // DAQ is not protected: the same list measures.
    set_mode(&mut d, 0, 0x00, a.event);
    assert_eq!(start(&mut d, 0)[0][0], 0xFF);
    d.raw(&stim_dto(0, 0, &[1, 2, 3, 4]));
    assert_eq!(a.slave.stats().stim_rejected, 1);
}

#[test]
fn the_event_never_applies_half_written_stim_data() {
    let a = app(SlaveConfig::default(), false);
    let mut d = Drive::new(&a.slave);
    d.connect();
    configure(&mut d, &[&[whole(at(a.inst, 8), 16)]]);
    set_mode(&mut d, 0, 0x02, a.event);
    start(&mut d, 0);
    let ev = a.slave.event(a.event).expect("event");
    let done = Arc::new(AtomicBool::new(false));
    let app_side = {
        let done = Arc::clone(&done);
        thread::spawn(move || {
            let mut checked = 0u64;
            let mut b = Bypass::default();
            while !done.load(Ordering::Relaxed) || checked == 0 {
                ev.trigger_with_mut(&mut b);
                let first = b.pattern[0];
                assert!(
                    b.pattern.iter().all(|&x| x == first),
                    "torn STIM data: {:?}",
                    b.pattern
                );
                checked += 1;
            }
            checked
        })
    };
    // The receive side: thousands of payloads, every byte of each one equal.
    for k in 0..20_000u32 {
        let v = u8::try_from(k % 251).expect("byte");
        d.raw(&stim_dto(0, 0, &[v; 16]));
    }
    done.store(true, Ordering::Relaxed);
    let checked = app_side.join().expect("no torn data");
    assert!(checked > 0);
    let s = a.slave.stats();
    assert_eq!(s.stim_received, 20_000);
    assert!(s.stim_applied > 0);
}

#[test]
fn absolute_pids_find_their_stim_list() {
    let config = SlaveConfig {
        id_field: xcp_proto::IdField::AbsoluteOdt,
        ..SlaveConfig::default()
    };
    let a = app(config, false);
    let mut d = Drive::new(&a.slave);
    d.connect();
    configure(
        &mut d,
        &[
            &[whole(a.target.address(), 4)],
            &[whole(a.bits.address(), 1)],
        ],
    );
    set_mode(&mut d, 0, 0x02, a.event);
    let first_pid = start(&mut d, 0)[0][1];
    // ODT 1 of the list: its absolute PID is the first PID + 1.
    d.raw(&[first_pid + 1, 0x5A]);
    d.raw(&[first_pid + 2, 0x11]); // beyond the list's two ODTs
    a.slave.event(a.event).expect("event").trigger();
    assert_eq!(a.bits.get(), 0x5A);
    let s = a.slave.stats();
    assert_eq!((s.stim_received, s.stim_rejected), (1, 1));
}
