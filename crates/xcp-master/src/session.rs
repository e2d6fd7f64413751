//! The session: sending a command, waiting for its response, and the ASAM error handling
//! (SYNCH and repeat after a timeout, wait and repeat on busy, unlock and repeat when
//! locked), each step bounded by the configuration.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::mpsc;
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::Duration;

use xcp_proto::codes::pid;
use xcp_proto::{
    CommModeInfo, Command, CommandCode, ConnectInfo, ErrorCode, Pending, Resources, Response,
    SessionParams,
};
use xcp_transport::{PacketTx, Transport};

use crate::config::Config;
use crate::daq::{DaqState, RawSink};
use crate::error::{Error, hint};
use crate::link::{Control, Expect, LinkStats, Outcome, Shared, SlaveEvent, receive_loop};

/// Computes the key for a seed: the master's side of seed & key.
///
/// Closures `FnMut(Resources, &[u8]) -> Result<Vec<u8>, String>` implement it.
pub trait SeedKey: Send {
    /// The key that unlocks `resource` for `seed`, or why there is none.
    ///
    /// # Errors
    /// A text saying why no key could be computed; it ends the unlock with
    /// [`Error::Locked`].
    fn key(&mut self, resource: Resources, seed: &[u8]) -> Result<Vec<u8>, String>;
}

impl<F> SeedKey for F
where
    F: FnMut(Resources, &[u8]) -> Result<Vec<u8>, String> + Send,
{
    fn key(&mut self, resource: Resources, seed: &[u8]) -> Result<Vec<u8>, String> {
        self(resource, seed)
    }
}

/// Waits for the receive thread to complete the armed slot.
struct Reply<'a> {
    shared: &'a Shared,
    /// Busy-check this long on the first poll (see `Config::spin`).
    spin: Duration,
}

impl Future for Reply<'_> {
    type Output = Outcome;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome> {
        if !self.spin.is_zero() {
            let spin = std::mem::take(&mut self.spin);
            if let Some(o) = self.shared.lead(spin) {
                return Poll::Ready(o);
            }
        }
        match self.shared.poll_outcome(cx.waker()) {
            Some(o) => Poll::Ready(o),
            None => Poll::Pending,
        }
    }
}

/// Waits for the next EV or SERV packet.
struct NextEvent<'a> {
    shared: &'a Shared,
}

impl Future for NextEvent<'_> {
    type Output = Option<SlaveEvent>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<SlaveEvent>> {
        if let Some(e) = self.shared.poll_event(cx.waker()) {
            return Poll::Ready(Some(e));
        }
        if self.shared.closed().is_some() {
            return Poll::Ready(None);
        }
        Poll::Pending
    }
}

/// The resource a command needs unlocked.
fn resource_of(code: CommandCode) -> Resources {
    use CommandCode as C;
    let b = code.to_u8();
    match code {
        C::Download
        | C::DownloadNext
        | C::DownloadMax
        | C::ShortDownload
        | C::ModifyBits
        | C::SetCalPage
        | C::GetCalPage
        | C::GetPagProcessorInfo
        | C::GetSegmentInfo
        | C::GetPageInfo
        | C::SetSegmentMode
        | C::GetSegmentMode
        | C::CopyCalPage => Resources::CAL_PAG,
        _ if (0xC8..=0xD2).contains(&b) => Resources::PGM,
        _ if (0xD3..=0xE3).contains(&b) || b == 0xC7 => Resources::DAQ,
        _ => Resources::NONE,
    }
}

/// Name of a resource for messages.
pub(crate) const fn resource_name(r: Resources) -> &'static str {
    match r.0 {
        0x01 => "CAL/PAG",
        0x04 => "DAQ",
        0x08 => "STIM",
        0x10 => "PGM",
        _ => "a resource",
    }
}

/// One XCP session with one slave.
///
/// Created on a transport with [`Master::new`]; [`connect`](Self::connect) negotiates the
/// session parameters. Every command method is `async` and runs on any executor (the
/// receive thread wakes it); [`crate::block_on`] runs one without an executor. Commands
/// take `&mut self`: XCP allows one outstanding command per session, and the borrow checker
/// enforces it. Sessions share nothing, so one process can hold many.
pub struct Master {
    pub(crate) shared: Arc<Shared>,
    tx: Box<dyn PacketTx>,
    control: mpsc::Sender<Control>,
    receiver: Option<JoinHandle<()>>,
    pub(crate) params: SessionParams,
    pub(crate) config: Config,
    pub(crate) connect: Option<ConnectInfo>,
    pub(crate) comm_mode: Option<CommModeInfo>,
    pub(crate) daq: Option<crate::daq::Prepared>,
    pub(crate) clock: Option<crate::time::ClockCorrelation>,
    seed_key: Option<Box<dyn SeedKey>>,
    buf: Vec<u8>,
}

impl std::fmt::Debug for Master {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Master")
            .field("params", &self.params)
            .field("connect", &self.connect)
            .finish_non_exhaustive()
    }
}

impl Master {
    /// Starts a session on `transport`: splits it and starts the receive thread. Nothing is
    /// sent until [`connect`](Self::connect).
    ///
    /// # Errors
    /// [`Error::Transport`] when the receive thread cannot be started.
    pub fn new<T: Transport>(transport: T, config: Config) -> Result<Self, Error> {
        let (tx, rx) = transport.split();
        let (control, control_rx) = mpsc::channel();
        let params = SessionParams::BEFORE_CONNECT;
        let shared = Shared::new(config.event_queue, Box::new(rx), control_rx, params);
        let receive_shared = Arc::clone(&shared);
        let spin = config.spin;
        let receiver = std::thread::Builder::new()
            .name("xcp-master-rx".to_owned())
            .spawn(move || receive_loop(&receive_shared, spin))
            .map_err(|e| Error::Transport {
                context: "start the receive thread",
                source: xcp_transport::TransportError::Io {
                    context: "spawn the receive thread".to_owned(),
                    source: e,
                },
            })?;
        Ok(Self {
            shared,
            tx: Box::new(tx),
            control,
            receiver: Some(receiver),
            params,
            config,
            connect: None,
            comm_mode: None,
            daq: None,
            clock: None,
            seed_key: None,
            buf: vec![0; 256],
        })
    }

    /// Sets the seed & key computation used when the slave answers ERR_ACCESS_LOCKED, and by
    /// [`unlock`](Self::unlock).
    pub fn set_seed_key(&mut self, seed_key: impl SeedKey + 'static) {
        self.seed_key = Some(Box::new(seed_key));
    }

    /// The session parameters in force (byte order, AG, MAX_CTO/DTO, DTO layout).
    pub const fn params(&self) -> &SessionParams {
        &self.params
    }

    /// The configuration.
    pub const fn config(&self) -> &Config {
        &self.config
    }

    /// The CONNECT response, once connected.
    pub const fn connect_info(&self) -> Option<&ConnectInfo> {
        self.connect.as_ref()
    }

    /// Counters of the link: commands, timeouts, retries, discarded responses, events, DTOs.
    pub fn stats(&self) -> LinkStats {
        self.shared.stats()
    }

    /// The next EV or SERV packet already received, if any.
    pub fn next_event(&self) -> Option<SlaveEvent> {
        self.shared.next_event()
    }

    /// Waits for the next EV or SERV packet; `None` once the session has ended.
    pub fn event(&self) -> impl Future<Output = Option<SlaveEvent>> + '_ {
        NextEvent {
            shared: &self.shared,
        }
    }

    /// Why the session ended, if it has.
    pub fn closed(&self) -> Option<String> {
        self.shared.closed()
    }

    pub(crate) fn set_params(&mut self, params: SessionParams) {
        self.params = params;
        let _ = self.control.send(Control::Params(params));
    }

    pub(crate) fn set_daq(&self, state: Option<Box<DaqState>>) {
        let _ = self.control.send(Control::Daq(state));
    }

    /// Hands every DTO, as received and before decoding, to `sink` (a recorder); `None`
    /// removes the sink.
    pub fn set_raw_sink(&self, sink: Option<Box<dyn RawSink>>) {
        let _ = self.control.send(Control::Raw(sink));
    }

    fn encode(&mut self, cmd: &Command<'_>) -> Result<usize, Error> {
        let need = cmd.buffer_len(&self.params);
        if self.buf.len() < need {
            self.buf.resize(need, 0);
        }
        cmd.emit(&mut self.buf, &self.params)
            .map_err(|e| Error::InvalidArgument(format!("{}: {e}", cmd.spec_name())))
    }

    /// Sends `len` bytes of the buffer with the slot armed for `expect`, and waits.
    async fn round_trip(
        &mut self,
        len: usize,
        expect: Expect,
        timeout: Duration,
        context: &'static str,
    ) -> Result<Outcome, Error> {
        if let Some(reason) = self.shared.closed() {
            return Err(Error::Closed { reason });
        }
        self.shared
            .arm(expect, timeout, self.config.pending_extensions);
        if let Err(source) = self.tx.send_now(&self.buf[..len]) {
            self.shared.disarm();
            return Err(Error::Transport { context, source });
        }
        Ok(Reply {
            shared: &self.shared,
            spin: self.config.spin,
        }
        .await)
    }

    /// Waits `d` (through the receive thread's clock; responses meanwhile are discarded).
    pub(crate) async fn pause(&mut self, d: Duration) {
        self.shared.arm(Expect::Sleep, d, 0);
        let _ = Reply {
            shared: &self.shared,
            spin: Duration::ZERO,
        }
        .await;
    }

    /// SYNCH as a command of its own: succeeds on the slave's ERR_CMD_SYNCH.
    pub(crate) async fn synch_command(&mut self) -> Result<(), Error> {
        let len = self.encode(&Command::Synch)?;
        let t1 = self.config.timeouts.t1;
        match self.round_trip(len, Expect::Synch, t1, "SYNCH").await? {
            Outcome::Packets(_) => Ok(()),
            Outcome::TimedOut => Err(Error::Timeout {
                command: "SYNCH",
                attempts: 1,
                timeout: t1,
            }),
            Outcome::Closed(reason) => Err(Error::Closed { reason }),
        }
    }

    /// SYNCH after a timeout: discards every response up to the slave's ERR_CMD_SYNCH.
    async fn synch_fence(&mut self) -> Result<(), Error> {
        let len = self.encode(&Command::Synch)?;
        let t1 = self.config.timeouts.t1;
        match self.round_trip(len, Expect::Synch, t1, "SYNCH").await? {
            Outcome::Closed(reason) => Err(Error::Closed { reason }),
            // A slave that does not answer SYNCH either gets the repetition anyway.
            Outcome::Packets(_) | Outcome::TimedOut => Ok(()),
        }
    }

    /// Sends `cmd` and returns its positive response packets (`packets` of them in slave
    /// block mode), applying the error handling; when the slave answers ERR_ACCESS_LOCKED
    /// and a seed & key is configured, unlocks the command's resource and repeats once.
    pub(crate) async fn exec(
        &mut self,
        cmd: &Command<'_>,
        packets: usize,
    ) -> Result<Vec<Vec<u8>>, Error> {
        match self.exec_basic(cmd, packets).await {
            Err(e) if e.code() == Some(ErrorCode::AccessLocked) && self.seed_key.is_some() => {
                let resource = resource_of(cmd.code());
                if resource == Resources::NONE {
                    return Err(e);
                }
                self.unlock(resource).await?;
                self.shared.count_retry();
                self.exec_basic(cmd, packets).await
            }
            other => other,
        }
    }

    /// [`exec`](Self::exec) without the unlock (what the unlock itself uses).
    async fn exec_basic(
        &mut self,
        cmd: &Command<'_>,
        packets: usize,
    ) -> Result<Vec<Vec<u8>>, Error> {
        let pending = Pending::from(cmd);
        let code = cmd.code();
        let name = cmd.spec_name();
        let timeout = self.config.timeouts.for_command(code);
        let connect = code == CommandCode::Connect;
        let max_repeats = if connect {
            self.config.connect_repeats
        } else {
            self.config.repeats
        };
        let (mut timeouts, mut busy, mut syntax) = (0u32, 0u32, 0u32);
        loop {
            let len = self.encode(cmd)?;
            let expect = Expect::Response {
                pending,
                packets: packets.max(1),
            };
            match self.round_trip(len, expect, timeout, name).await? {
                Outcome::Packets(p) => {
                    let Some(first) = p.first() else {
                        return Err(Error::Malformed {
                            command: name,
                            reason: "no packet".to_owned(),
                        });
                    };
                    if first.first() == Some(&pid::RES) {
                        return Ok(p);
                    }
                    let code = ErrorCode::from_u8(first.get(1).copied().unwrap_or(0xFF));
                    match code {
                        ErrorCode::CmdBusy | ErrorCode::PgmActive
                            if busy < self.config.busy_repeats =>
                        {
                            busy += 1;
                            self.shared.count_retry();
                            let t7 = self.config.timeouts.t7;
                            self.pause(t7).await;
                        }
                        ErrorCode::CmdSyntax if syntax < 2 => {
                            syntax += 1;
                            self.shared.count_retry();
                        }
                        _ => return Err(negative(name, code)),
                    }
                }
                Outcome::TimedOut => {
                    timeouts += 1;
                    if timeouts > max_repeats {
                        return Err(Error::Timeout {
                            command: name,
                            attempts: timeouts,
                            timeout,
                        });
                    }
                    self.shared.count_retry();
                    if !connect {
                        self.synch_fence().await?;
                    }
                }
                Outcome::Closed(reason) => return Err(Error::Closed { reason }),
            }
        }
    }

    /// Sends `cmd`, decodes its one positive response with `f`.
    pub(crate) async fn request<T>(
        &mut self,
        cmd: &Command<'_>,
        f: impl FnOnce(Response<'_>) -> Option<T>,
    ) -> Result<T, Error> {
        let packets = self.exec(cmd, 1).await?;
        self.decode_one(cmd, &packets, f)
    }

    /// [`request`](Self::request) without the unlock.
    async fn request_basic<T>(
        &mut self,
        cmd: &Command<'_>,
        f: impl FnOnce(Response<'_>) -> Option<T>,
    ) -> Result<T, Error> {
        let packets = self.exec_basic(cmd, 1).await?;
        self.decode_one(cmd, &packets, f)
    }

    fn decode_one<T>(
        &self,
        cmd: &Command<'_>,
        packets: &[Vec<u8>],
        f: impl FnOnce(Response<'_>) -> Option<T>,
    ) -> Result<T, Error> {
        let name = cmd.spec_name();
        let pending = Pending::from(cmd);
        let packet = packets.first().map_or(&[][..], Vec::as_slice);
        let response =
            Response::parse(packet, pending, &self.params).map_err(|e| Error::Malformed {
                command: name,
                reason: e.to_string(),
            })?;
        let shown = format!("{response:?}");
        f(response).ok_or_else(|| Error::Malformed {
            command: name,
            reason: format!("unexpected response {shown}"),
        })
    }

    /// Sends `cmd` and expects a plain positive response.
    pub(crate) async fn simple(&mut self, cmd: &Command<'_>) -> Result<(), Error> {
        self.exec(cmd, 1).await.map(drop)
    }

    /// Sends a packet that gets no answer (a STIM DTO).
    pub(crate) fn send_raw(&mut self, packet: &[u8]) -> Result<(), Error> {
        self.tx.send_now(packet).map_err(|source| Error::Transport {
            context: "send STIM",
            source,
        })
    }

    /// Sends a command that gets no answer (the inner packets of a master block).
    pub(crate) fn send_only(&mut self, cmd: &Command<'_>) -> Result<(), Error> {
        let len = self.encode(cmd)?;
        self.tx
            .send_now(&self.buf[..len])
            .map_err(|source| Error::Transport {
                context: "master block mode",
                source,
            })
    }

    /// GET_SEED / UNLOCK for `resource` with the configured [`SeedKey`]; returns the
    /// resources still protected.
    ///
    /// # Errors
    /// [`Error::Locked`] without a seed & key or when the key is refused.
    pub async fn unlock(&mut self, resource: Resources) -> Result<Resources, Error> {
        let rname = resource_name(resource);
        // The seed, over as many GET_SEED as it needs.
        let first = self
            .request_basic(&Command::GetSeed { mode: 0, resource }, |r| match r {
                Response::Seed(s) => Some((s.remaining, s.seed.to_vec())),
                _ => None,
            })
            .await?;
        let (total, mut seed) = first;
        if total == 0 {
            return Ok(Resources::NONE);
        }
        while seed.len() < usize::from(total) {
            let (remaining, part) = self
                .request_basic(&Command::GetSeed { mode: 1, resource }, |r| match r {
                    Response::Seed(s) => Some((s.remaining, s.seed.to_vec())),
                    _ => None,
                })
                .await?;
            if part.is_empty() || usize::from(remaining) != usize::from(total) - seed.len() {
                return Err(Error::Locked {
                    resource: rname,
                    reason: format!(
                        "the seed arrived inconsistently ({} of {total} bytes, then {remaining} \
                         remaining)",
                        seed.len()
                    ),
                });
            }
            seed.extend_from_slice(&part);
        }
        seed.truncate(usize::from(total));
        let Some(sk) = self.seed_key.as_mut() else {
            return Err(Error::Locked {
                resource: rname,
                reason: "no seed & key computation configured".to_owned(),
            });
        };
        let key = sk.key(resource, &seed).map_err(|reason| Error::Locked {
            resource: rname,
            reason: format!("the seed & key computation failed: {reason}"),
        })?;
        let total = u8::try_from(key.len()).map_err(|_| Error::Locked {
            resource: rname,
            reason: format!("a {}-byte key does not fit UNLOCK", key.len()),
        })?;
        let chunk = usize::from(self.params.max_cto).saturating_sub(2).max(1);
        let mut sent = 0usize;
        let mut status = Resources::NONE;
        for part in key.chunks(chunk) {
            let remaining = total - u8::try_from(sent).unwrap_or(total);
            let protection = self
                .request_basic(
                    &Command::Unlock {
                        remaining,
                        key: part,
                    },
                    |r| match r {
                        Response::Unlock { protection } => Some(protection),
                        _ => None,
                    },
                )
                .await
                .map_err(|e| match e.code() {
                    Some(ErrorCode::AccessLocked) => Error::Locked {
                        resource: rname,
                        reason: "the slave refused the key and ended the session (as XCP \
                                 prescribes); check the seed & key algorithm, then connect \
                                 again"
                            .to_owned(),
                    },
                    _ => e,
                });
            if protection.is_err() {
                self.connect = None;
            }
            status = protection?;
            sent += part.len();
        }
        if status.contains(resource) {
            return Err(Error::Locked {
                resource: rname,
                reason: "still protected after UNLOCK".to_owned(),
            });
        }
        Ok(status)
    }
}

impl Drop for Master {
    fn drop(&mut self) {
        self.shared.request_stop();
        if let Some(p) = self.receiver.take() {
            let _ = p.join();
        }
    }
}

fn negative(command: &'static str, code: ErrorCode) -> Error {
    Error::Negative {
        command,
        code,
        hint: hint(code),
    }
}
