//! The DTOs a trigger queues, byte for byte, whichever path it takes: an event with one
//! plain one-ODT list takes the short path, an event with several lists (or a prescaler)
//! walks all of them; both must send the same bytes for every identification field type,
//! byte order, timestamp and PID_OFF setting.

mod common;

use common::Drive;
use xcp_proto::{ByteOrder, Command, DaqListNumber, EventChannel, IdField, OdtEntry};
use xcp_slave::{Slave, SlaveConfig};

const NOW_NS: u64 = 0x0000_0001_1234_5678;
const COUNTER: u32 = 0xA1B2_C3D4;
const TEMP: f32 = 21.5;

const DTO_TIMESTAMP: u8 = 0x10;
const DTO_PID_OFF: u8 = 0x20;

/// The identification field of ODT 0 of list `daq` whose first absolute PID is `pid`.
fn id_bytes(id: IdField, order: ByteOrder, daq: u16, pid: u8) -> Vec<u8> {
    let word = match order {
        ByteOrder::Intel => daq.to_le_bytes(),
        ByteOrder::Motorola => daq.to_be_bytes(),
    };
    match id {
        IdField::AbsoluteOdt => vec![pid],
        IdField::RelativeOdtDaqByte => vec![0, daq.to_le_bytes()[0]],
        IdField::RelativeOdtDaqWord => vec![0, word[0], word[1]],
        IdField::RelativeOdtDaqWordAligned => vec![0, 0, word[0], word[1]],
    }
}

/// What list `daq` (one ODT of `data`) must send at `NOW_NS` with a 4-byte 1 ns timestamp.
fn expected(config: &SlaveConfig, mode: u8, daq: u16, pid: u8, data: &[u8]) -> Vec<u8> {
    let mut dto = Vec::new();
    if mode & DTO_PID_OFF == 0 {
        dto.extend(id_bytes(config.id_field, config.byte_order, daq, pid));
    }
    if mode & DTO_TIMESTAMP != 0 {
        let ticks = u32::try_from(NOW_NS & 0xFFFF_FFFF).expect("low word");
        dto.extend(match config.byte_order {
            ByteOrder::Intel => ticks.to_le_bytes(),
            ByteOrder::Motorola => ticks.to_be_bytes(),
        });
    }
    dto.extend_from_slice(data);
    dto
}

fn drain(slave: &Slave) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut dtos = Vec::new();
    while slave.pop_dto(&mut out) {
        dtos.push(out.clone());
    }
    dtos
}

fn start_stop(d: &mut Drive, mode: u8, daq: u16) {
    d.ok(Command::StartStopDaqList {
        mode,
        daq: DaqListNumber(daq),
    });
}

fn set_mode(d: &mut Drive, mode: u8, daq: u16, event: u16, prescaler: u8) {
    d.ok(Command::SetDaqListMode {
        mode,
        daq: DaqListNumber(daq),
        event: EventChannel(event),
        prescaler,
        priority: 0,
    });
}

/// List 0 samples `temp`, list 1 samples `counter` and `temp`, both on the `10ms` event.
fn configure(d: &mut Drive, f: &common::Fixture) {
    let whole = |addr, size| OdtEntry {
        bit_offset: 0xFF,
        size,
        addr,
    };
    d.ok(Command::FreeDaq);
    d.ok(Command::AllocDaq { count: 2 });
    let lists: [&[OdtEntry]; 2] = [
        &[whole(f.temp.address(), 4)],
        &[whole(f.counter.address(), 4), whole(f.temp.address(), 4)],
    ];
    for daq in 0..2u16 {
        d.ok(Command::AllocOdt {
            daq: DaqListNumber(daq),
            count: 1,
        });
    }
    for (daq, entries) in (0..2u16).zip(lists) {
        let count = u8::try_from(entries.len()).expect("few");
        d.ok(Command::AllocOdtEntry {
            daq: DaqListNumber(daq),
            odt: 0,
            count,
        });
    }
    for (daq, entries) in (0..2u16).zip(lists) {
        d.ok(Command::SetDaqPtr {
            daq: DaqListNumber(daq),
            odt: 0,
            entry: 0,
        });
        for &entry in entries {
            d.ok(Command::WriteDaq { entry });
        }
    }
}

#[test]
fn one_list_and_several_lists_send_the_same_bytes() {
    let ids = [
        IdField::AbsoluteOdt,
        IdField::RelativeOdtDaqByte,
        IdField::RelativeOdtDaqWord,
        IdField::RelativeOdtDaqWordAligned,
    ];
    let mut checked = 0;
    for id_field in ids {
        for byte_order in [ByteOrder::Intel, ByteOrder::Motorola] {
            for mode in [0, DTO_TIMESTAMP, DTO_PID_OFF, DTO_TIMESTAMP | DTO_PID_OFF] {
                let config = SlaveConfig {
                    id_field,
                    byte_order,
                    ..SlaveConfig::default()
                };
                let f = common::fixture(config.clone());
                f.counter.set(COUNTER);
                f.temp.set(TEMP);
                let mut d = Drive::new(&f.slave);
                d.connect();
                configure(&mut d, &f);
                set_mode(&mut d, mode, 0, 0, 1);
                set_mode(&mut d, mode, 1, 0, 1);
                let event = f.ev10.id().0;
                assert_eq!(event, 0, "the fixture's 10ms event");

                let mut both = COUNTER.to_ne_bytes().to_vec();
                both.extend_from_slice(&TEMP.to_ne_bytes());
                let list1 = expected(&config, mode, 1, 1, &both);
                let list0 = expected(&config, mode, 0, 0, &TEMP.to_ne_bytes());
                let case = format!("{id_field:?} {byte_order:?} mode {mode:#04x}");

                // List 1 alone: the one-list path.
                start_stop(&mut d, 1, 1);
                f.ev10.trigger_at(&[], NOW_NS);
                assert_eq!(
                    drain(&f.slave),
                    std::slice::from_ref(&list1),
                    "{case}: alone"
                );

                // Both lists: the general walk, list 1 unchanged.
                start_stop(&mut d, 1, 0);
                f.ev10.trigger_at(&[], NOW_NS);
                let mut got = drain(&f.slave);
                got.sort();
                let mut want = vec![list0.clone(), list1.clone()];
                want.sort();
                assert_eq!(got, want, "{case}: beside list 0");

                // List 0 stopped: back to the one-list path.
                start_stop(&mut d, 0, 0);
                f.ev10.trigger_at(&[], NOW_NS);
                assert_eq!(
                    drain(&f.slave),
                    std::slice::from_ref(&list1),
                    "{case}: list 0 stopped"
                );

                // A prescaler of 2 takes the walk: every second event.
                start_stop(&mut d, 0, 1);
                set_mode(&mut d, mode, 1, 0, 2);
                start_stop(&mut d, 1, 1);
                for _ in 0..4 {
                    f.ev10.trigger_at(&[], NOW_NS);
                }
                assert_eq!(
                    drain(&f.slave),
                    [list1.clone(), list1],
                    "{case}: prescaler 2"
                );

                // Everything stopped: nothing is sent.
                d.ok(Command::StartStopSynch { mode: 0 });
                f.ev10.trigger_at(&[], NOW_NS);
                assert!(drain(&f.slave).is_empty(), "{case}: stopped");
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 32);
}
