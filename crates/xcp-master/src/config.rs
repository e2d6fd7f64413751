//! Timeouts, repetitions and queue sizes of a session.

use std::time::Duration;

use xcp_proto::CommandCode;

/// The XCP timeouts T1–T7 (XCP part 2, protocol layer; the A2L's PROTOCOL_LAYER gives a
/// slave's own values in milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// T1: every command without a timeout of its own.
    pub t1: Duration,
    /// T2: BUILD_CHECKSUM.
    pub t2: Duration,
    /// T3: PROGRAM_START.
    pub t3: Duration,
    /// T4: PROGRAM_CLEAR.
    pub t4: Duration,
    /// T5: PROGRAM, PROGRAM_NEXT, PROGRAM_MAX, PROGRAM_VERIFY, PROGRAM_RESET and the other
    /// programming commands.
    pub t5: Duration,
    /// T6: CONNECT.
    pub t6: Duration,
    /// T7: the wait before repeating a command the slave answered with ERR_CMD_BUSY or
    /// ERR_PGM_ACTIVE.
    pub t7: Duration,
}

impl Default for Timeouts {
    /// Values common in A2L files: T1 1 s, T2 2 s, T3 2 s, T4 10 s, T5 1 s, T6 1 s,
    /// T7 200 ms.
    fn default() -> Self {
        Self {
            t1: Duration::from_secs(1),
            t2: Duration::from_secs(2),
            t3: Duration::from_secs(2),
            t4: Duration::from_secs(10),
            t5: Duration::from_secs(1),
            t6: Duration::from_secs(1),
            t7: Duration::from_millis(200),
        }
    }
}

impl Timeouts {
    /// All seven from an A2L PROTOCOL_LAYER's T1..T7 in milliseconds.
    pub fn from_millis(t: [u16; 7]) -> Self {
        let d = |ms: u16| Duration::from_millis(u64::from(ms.max(1)));
        Self {
            t1: d(t[0]),
            t2: d(t[1]),
            t3: d(t[2]),
            t4: d(t[3]),
            t5: d(t[4]),
            t6: d(t[5]),
            t7: d(t[6]),
        }
    }

    /// The timeout that applies to a command.
    pub fn for_command(&self, code: CommandCode) -> Duration {
        use CommandCode as C;
        match code {
            C::Connect => self.t6,
            C::BuildChecksum => self.t2,
            C::ProgramStart => self.t3,
            C::ProgramClear => self.t4,
            C::Program
            | C::ProgramNext
            | C::ProgramMax
            | C::ProgramVerify
            | C::ProgramReset
            | C::ProgramPrepare
            | C::ProgramFormat => self.t5,
            _ => self.t1,
        }
    }
}

/// How a session behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// T1–T7.
    pub timeouts: Timeouts,
    /// Repetitions of a command that timed out (after a SYNCH), as the ASAM error handling
    /// prescribes; 2 by default.
    pub repeats: u32,
    /// Repetitions of CONNECT that timed out (the standard repeats it indefinitely; a tool
    /// must not): 2 by default.
    pub connect_repeats: u32,
    /// Repetitions after ERR_CMD_BUSY / ERR_PGM_ACTIVE, each after T7: 20 by default.
    pub busy_repeats: u32,
    /// EV_CMD_PENDING restarts a command's timer at most this often: 50 by default.
    pub pending_extensions: u32,
    /// EV and SERV packets kept for [`crate::Master::next_event`]; more are dropped and
    /// counted. 256 by default.
    pub event_queue: usize,
    /// CONNECT mode: 0 normal, 1 user-defined.
    pub connect_mode: u8,
    /// A command polls the transport for its own response this long before it lets its
    /// executor park the thread (the receive thread takes over then). Waking a thread costs
    /// tens of microseconds on a virtual machine; polling saves the receive thread's wake and
    /// the command's, at the price of a busy core for at most this long per command (a slave
    /// that also polls, e.g. `EthConfig::spin` or `xcpkit ecu --spin-us`, saves its own).
    /// The receive thread stays off the transport while commands follow each other within
    /// this time. 100 µs by default; zero leaves all receiving to the receive thread.
    pub spin: Duration,
    /// XCP on CAN: DAQ list `i` of [`crate::Master::setup_daq`] goes out on identifier
    /// `daq_can_ids[i]` (SET_DAQ_ID before the lists start; lists beyond stay on
    /// CAN_ID_SLAVE). The CAN transport must receive there too (`listen_also`). Empty by
    /// default.
    pub daq_can_ids: Vec<xcp_proto::tl::can::CanId>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            timeouts: Timeouts::default(),
            repeats: 2,
            connect_repeats: 2,
            busy_repeats: 20,
            pending_extensions: 50,
            event_queue: 256,
            connect_mode: 0,
            spin: Duration::from_micros(100),
            daq_can_ids: Vec::new(),
        }
    }
}
