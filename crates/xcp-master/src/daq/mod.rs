//! DAQ: measurement requests packed into ODTs within the slave's limits, written as a
//! dynamic or static configuration, started and stopped; DTOs decoded by the reader of the
//! receive half (the receive thread, or a command polling for its response) into typed rows with linearised timestamps, delivered in batches through a bounded stream
//! that counts what it drops; a raw-frame sink for recorders.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};

use xcp_proto::bits;
use xcp_proto::{DaqPacket, DtoId, ErrorCode, IdField, OdtEntry, SessionParams, TimestampSize};

use crate::error::Error;
use crate::session::Master;
use crate::time::Linearizer;

mod decoder;
mod plan;
mod signal;
mod stream;

use decoder::list_state;
pub(crate) use decoder::{DaqState, Prepared};
pub use plan::{DaqLimits, PlannedEntry, PlannedList, plan};
pub use signal::{ListRequest, Signal, Value, decode_value, encode_value};
pub use stream::{Batch, DaqOptions, DaqStats, DaqStream, ListStats, RawSink, Row, SlowConsumer};
use stream::{QueueInner, RowQueue};
pub use xcp_proto::ElementType;

impl Master {
    /// GET_DAQ_PROCESSOR_INFO and GET_DAQ_RESOLUTION_INFO, as limits for [`plan`].
    ///
    /// # Errors
    /// As the commands.
    pub async fn daq_limits(&mut self) -> Result<DaqLimits, Error> {
        let processor = self.get_daq_processor_info().await?;
        let resolution = self.get_daq_resolution_info().await?;
        let (max_odt, max_odt_entries) = if processor.dynamic() {
            (255, 255)
        } else {
            let first = u16::from(processor.min_daq);
            let info = self.get_daq_list_info(first).await?;
            (info.max_odt, info.max_odt_entries)
        };
        Ok(DaqLimits {
            processor,
            resolution,
            max_dto: self.params.max_dto,
            ag: self.params.ag(),
            max_odt_entries,
            max_odt,
        })
    }

    /// Packs `requests` into ODTs and writes them to the slave (dynamic: FREE_DAQ, ALLOC_*;
    /// static: the lists after the predefined ones, cleared), with each list's event,
    /// prescaler, priority and timestamp mode (and, on CAN, the identifiers of
    /// [`Config::daq_can_ids`](crate::Config::daq_can_ids)). Returns the stream the rows will arrive on
    /// once [`start_daq`](Self::start_daq) runs.
    ///
    /// # Errors
    /// [`Error::Daq`] when the requests do not fit the slave, else as the commands.
    pub async fn setup_daq(
        &mut self,
        requests: &[ListRequest],
        options: DaqOptions,
    ) -> Result<DaqStream, Error> {
        let limits = self.daq_limits().await?;
        let lists = plan(&limits, requests)?;
        let ts_size = self.adopt_dto_layout(&limits);
        let numbers: Vec<u16> = if limits.processor.dynamic() {
            self.free_daq().await?;
            let n =
                u16::try_from(lists.len()).map_err(|_| Error::Daq("too many lists".to_owned()))?;
            self.alloc_daq(n).await?;
            for (i, l) in lists.iter().enumerate() {
                let odts = u8::try_from(l.odts.len()).unwrap_or(u8::MAX);
                self.alloc_odt(u16::try_from(i).unwrap_or(u16::MAX), odts)
                    .await?;
            }
            for (i, l) in lists.iter().enumerate() {
                for (o, odt) in l.odts.iter().enumerate() {
                    self.alloc_odt_entry(
                        u16::try_from(i).unwrap_or(u16::MAX),
                        u8::try_from(o).unwrap_or(u8::MAX),
                        u8::try_from(odt.len()).unwrap_or(u8::MAX),
                    )
                    .await?;
                }
            }
            (0..n).collect()
        } else {
            let first = u16::from(limits.processor.min_daq);
            let n = u16::try_from(lists.len()).unwrap_or(u16::MAX);
            if first + n > limits.processor.max_daq {
                return Err(Error::Daq(format!(
                    "{n} lists requested; the slave has {} configurable",
                    limits.processor.max_daq - first
                )));
            }
            let numbers: Vec<u16> = (first..first + n).collect();
            for &d in &numbers {
                self.clear_daq_list(d).await?;
            }
            numbers
        };
        let per_multiple =
            ((usize::from(self.params.max_cto) - 2) / 8).min(xcp_proto::MAX_WRITE_DAQ_MULTIPLE);
        let mut multiple = per_multiple > 1;
        for (i, (l, &d)) in lists.iter().zip(&numbers).enumerate() {
            for (o, odt) in l.odts.iter().enumerate() {
                self.set_daq_ptr(d, u8::try_from(o).unwrap_or(u8::MAX), 0)
                    .await?;
                let entries: Vec<OdtEntry> = odt
                    .iter()
                    .map(|e| OdtEntry {
                        bit_offset: 0xFF,
                        size: u8::try_from(e.size / limits.ag).unwrap_or(u8::MAX),
                        addr: e.addr,
                    })
                    .collect();
                let mut rest = &entries[..];
                while !rest.is_empty() {
                    if multiple {
                        let n = rest.len().min(per_multiple);
                        match self.write_daq_multiple(&rest[..n]).await {
                            Ok(()) => {
                                rest = &rest[n..];
                                continue;
                            }
                            Err(e) if e.code() == Some(ErrorCode::CmdUnknown) => multiple = false,
                            Err(e) => return Err(e),
                        }
                    }
                    self.write_daq(rest[0]).await?;
                    rest = &rest[1..];
                }
            }
            let mode = if l.request.stim {
                bits::daq_list_mode::DIRECTION_STIM
            } else if l.request.timestamps {
                bits::daq_list_mode::TIMESTAMP
            } else {
                0
            };
            self.set_daq_list_mode(
                mode,
                d,
                l.request.event,
                l.request.prescaler.max(1),
                l.request.priority,
            )
            .await?;
            if let Some(&id) = self.config.daq_can_ids.get(i) {
                self.set_daq_id(d, id).await?;
            }
        }
        Ok(self.install(lists, numbers, &limits, ts_size, options))
    }

    /// Takes the DTO layout the slave will use (identification field, timestamp size, PID
    /// overload bit) into the session parameters; returns the timestamp size.
    fn adopt_dto_layout(&mut self, limits: &DaqLimits) -> TimestampSize {
        let ts_size = limits
            .resolution
            .timestamp_size()
            .unwrap_or(TimestampSize::None);
        let mut params = self.params;
        params.daq.id_field = limits.processor.id_field();
        params.daq.timestamp = ts_size;
        params.daq.overload_pid_msb = limits.processor.overload_pid_msb();
        self.set_params(params);
        ts_size
    }

    /// Prepares the decoder and the stream for `lists` (slave list `numbers`).
    fn install(
        &mut self,
        lists: Vec<PlannedList>,
        numbers: Vec<u16>,
        limits: &DaqLimits,
        ts_size: TimestampSize,
        options: DaqOptions,
    ) -> DaqStream {
        let queue = Arc::new(RowQueue {
            inner: Mutex::new(QueueInner {
                batches: VecDeque::new(),
                rows: 0,
                closed: None,
                waker: None,
                stats: DaqStats::default(),
            }),
            room: Condvar::new(),
            ready: Condvar::new(),
            capacity: options.queue_rows.max(1),
            policy: options.slow_consumer,
        });
        let anchor = self.clock.filter(|c| c.size == ts_size.len());
        let clock = limits
            .resolution
            .tick_ns()
            .filter(|_| ts_size != TimestampSize::None)
            .map(|t| anchor.map_or_else(|| Linearizer::new(ts_size.len(), t), |a| a.linearizer()));
        let state = DaqState {
            lists: lists.iter().map(list_state).collect(),
            by_pid: vec![None; 256],
            list_numbers: numbers.clone(),
            relative: limits.processor.id_field() != IdField::AbsoluteOdt,
            clock,
            anchor,
            queue: Arc::clone(&queue),
            batch: Batch::default(),
            batch_started: None,
            options,
            bad: 0,
            dropped: 0,
            overload_events: 0,
        };
        let stream = DaqStream {
            queue,
            signals: lists.iter().map(|l| l.request.signals.clone()).collect(),
        };
        self.daq = Some(Prepared {
            lists,
            tick_ns: limits.resolution.tick_ns(),
            capacity: usize::from(limits.max_odt),
            dynamic: limits.processor.dynamic(),
            numbers,
            state: Some(Box::new(state)),
            firsts: Vec::new(),
        });
        stream
    }

    /// Measures a predefined DAQ list (one the slave holds itself, numbered below MIN_DAQ):
    /// reads its ODT layout back with SET_DAQ_PTR / READ_DAQ, maps the entries onto
    /// `signals` by address (entries no signal covers are skipped), sets its mode
    /// (timestamps) and returns the stream; [`start_daq`](Self::start_daq) starts it.
    ///
    /// # Errors
    /// [`Error::Daq`] when the list is not predefined or a signal is not in it; as the
    /// commands otherwise.
    pub async fn setup_predefined(
        &mut self,
        number: u16,
        signals: &[Signal],
        timestamps: bool,
        options: DaqOptions,
    ) -> Result<DaqStream, Error> {
        let mut limits = self.daq_limits().await?;
        if number >= u16::from(limits.processor.min_daq) {
            return Err(Error::Daq(format!(
                "list {number} is not predefined (the slave has {})",
                limits.processor.min_daq
            )));
        }
        let info = self.get_daq_list_info(number).await?;
        let ag = self.params.ag();
        let mut odts: Vec<Vec<PlannedEntry>> = Vec::new();
        let mut covered = vec![false; signals.len()];
        for odt in 0..info.max_odt {
            let mut entries = Vec::new();
            for e in 0..info.max_odt_entries {
                // ODTs may hold fewer entries than the list's maximum: the pointer says so.
                match self.set_daq_ptr(number, odt, e).await {
                    Ok(()) => {}
                    Err(err) if err.code() == Some(ErrorCode::OutOfRange) => break,
                    Err(err) => return Err(err),
                }
                let entry = self.read_daq().await?;
                if entry.size == 0 {
                    continue;
                }
                let size = usize::from(entry.size) * ag;
                let inside = signals.iter().position(|s| {
                    s.addr.ext == entry.addr.ext
                        && s.addr.addr <= entry.addr.addr
                        && (u64::from(entry.addr.addr - s.addr.addr) * ag as u64 + size as u64)
                            <= s.ty.size() as u64
                });
                let (signal, offset) = match inside {
                    Some(i) => {
                        covered[i] = true;
                        (i, (entry.addr.addr - signals[i].addr.addr) as usize * ag)
                    }
                    // Bytes nobody asked for: decoded into scratch and dropped.
                    None => (usize::MAX, 0),
                };
                entries.push(PlannedEntry {
                    addr: entry.addr,
                    size,
                    signal,
                    offset,
                });
            }
            if entries.is_empty() {
                break;
            }
            odts.push(entries);
        }
        if let Some(i) = covered.iter().position(|c| !c) {
            return Err(Error::Daq(format!(
                "{} ({}) is not in predefined list {number}",
                signals[i].name, signals[i].addr
            )));
        }
        let ts_size = self.adopt_dto_layout(&limits);
        let event = if info.properties & bits::daq_list_properties::EVENT_FIXED != 0 {
            info.fixed_event
        } else {
            0
        };
        let mode = if timestamps {
            bits::daq_list_mode::TIMESTAMP
        } else {
            0
        };
        self.set_daq_list_mode(mode, number, event, 1, 0).await?;
        limits.max_odt = info.max_odt;
        let request = ListRequest {
            event,
            prescaler: 1,
            priority: 0,
            timestamps,
            stim: false,
            signals: signals.to_vec(),
        };
        Ok(self.install(
            vec![PlannedList { request, odts }],
            vec![number],
            &limits,
            ts_size,
            options,
        ))
    }

    /// Selects every configured list (learning its first PID), hands the decoder to the
    /// receive thread, and starts them together (START_STOP_SYNCH start selected).
    ///
    /// # Errors
    /// [`Error::Daq`] without [`setup_daq`](Self::setup_daq) first, else as the commands.
    pub async fn start_daq(&mut self) -> Result<(), Error> {
        self.select_daq().await?;
        self.start_stop_synch(1).await
    }

    /// The first half of [`start_daq`](Self::start_daq): selects every configured list and
    /// hands the decoder to the receive thread, so that [`daq_layout`](Self::daq_layout)
    /// is complete (a recorder writes it) before `start_stop_synch(1)` starts the lists.
    ///
    /// # Errors
    /// As [`start_daq`](Self::start_daq).
    pub async fn select_daq(&mut self) -> Result<(), Error> {
        let Some(mut prepared) = self.daq.take() else {
            return Err(Error::Daq("start_daq without setup_daq".to_owned()));
        };
        let numbers = prepared.numbers.clone();
        let mut firsts = Vec::with_capacity(numbers.len());
        for &d in &numbers {
            match self.start_stop_daq_list(2, d).await {
                Ok(p) => firsts.push(p),
                Err(e) => {
                    self.daq = Some(prepared);
                    return Err(e);
                }
            }
        }
        if let Some(state) = prepared.state.as_mut() {
            for (li, (&first, l)) in firsts.iter().zip(&prepared.lists).enumerate() {
                if l.request.stim {
                    continue;
                }
                let odts = if prepared.dynamic {
                    l.odts.len()
                } else {
                    prepared.capacity.max(l.odts.len())
                };
                for oi in 0..odts {
                    if let Some(slot) = state.by_pid.get_mut(usize::from(first) + oi) {
                        *slot = Some((li, oi));
                    }
                }
            }
        }
        if let Some(state) = prepared.state.take() {
            self.set_daq(Some(state));
        }
        prepared.firsts = firsts;
        self.daq = Some(prepared);
        Ok(())
    }

    /// Stops every list (START_STOP_SYNCH stop all). Rows still in flight are decoded; the
    /// stream stays open until the configuration is replaced or the session ends.
    ///
    /// # Errors
    /// As the command.
    pub async fn stop_daq(&mut self) -> Result<(), Error> {
        self.start_stop_synch(0).await
    }
}

/// The running DAQ configuration as a recording needs it to decode the raw DTOs later.
#[derive(Debug, Clone, PartialEq)]
pub struct DaqLayoutInfo {
    /// The session's DTO layout and byte order.
    pub params: SessionParams,
    /// Nanoseconds per timestamp tick.
    pub tick_ns: Option<f64>,
    /// The lists, in request order.
    pub lists: Vec<ListLayout>,
}

/// One list of a [`DaqLayoutInfo`].
#[derive(Debug, Clone, PartialEq)]
pub struct ListLayout {
    /// The slave's list number.
    pub number: u16,
    /// The first PID (absolute identification).
    pub first_pid: u8,
    /// The request: event, timestamps, signals.
    pub request: ListRequest,
    /// ODTs as packed: entries of (signal index, offset in the signal, size in bytes).
    pub odts: Vec<Vec<(usize, usize, usize)>>,
}

impl Master {
    /// The DAQ configuration in force after [`start_daq`](Self::start_daq).
    pub fn daq_layout(&self) -> Option<DaqLayoutInfo> {
        let p = self.daq.as_ref()?;
        if p.firsts.len() != p.lists.len() {
            return None;
        }
        Some(DaqLayoutInfo {
            params: self.params,
            tick_ns: p.tick_ns,
            lists: p
                .lists
                .iter()
                .zip(&p.numbers)
                .zip(&p.firsts)
                .map(|((l, &number), &first_pid)| ListLayout {
                    number,
                    first_pid,
                    request: l.request.clone(),
                    odts: l
                        .odts
                        .iter()
                        .map(|o| o.iter().map(|e| (e.signal, e.offset, e.size)).collect())
                        .collect(),
                })
                .collect(),
        })
    }

    /// Sends one set of values to STIM list `list` (index in the request): one DTO per ODT.
    /// The slave writes them at the list's next event.
    ///
    /// # Errors
    /// [`Error::Daq`] when the list is not a started STIM list or the values do not match its
    /// signals; transport errors.
    pub fn stim(&mut self, list: usize, values: &[Value]) -> Result<(), Error> {
        let params = self.params;
        let Some(p) = self.daq.as_ref() else {
            return Err(Error::Daq(
                "stim without setup_daq and start_daq".to_owned(),
            ));
        };
        let (Some(l), Some(&first), Some(&number)) =
            (p.lists.get(list), p.firsts.get(list), p.numbers.get(list))
        else {
            return Err(Error::Daq(format!("no started list {list}")));
        };
        if !l.request.stim {
            return Err(Error::Daq(format!("list {list} is a DAQ list, not STIM")));
        }
        if values.len() != l.request.signals.len() {
            return Err(Error::Daq(format!(
                "list {list} has {} signals, {} values given",
                l.request.signals.len(),
                values.len()
            )));
        }
        let encoded: Vec<Vec<u8>> = l
            .request
            .signals
            .iter()
            .zip(values)
            .map(|(s, v)| encode_value(s.ty, *v, s.order))
            .collect();
        let mut packets = Vec::with_capacity(l.odts.len());
        for (oi, odt) in l.odts.iter().enumerate() {
            let mut data = Vec::new();
            for e in odt {
                data.extend_from_slice(
                    encoded[e.signal]
                        .get(e.offset..e.offset + e.size)
                        .unwrap_or_default(),
                );
            }
            let odt_no = u8::try_from(oi).unwrap_or(u8::MAX);
            let id = if params.daq.id_field == IdField::AbsoluteOdt {
                DtoId {
                    odt: first.wrapping_add(odt_no),
                    daq: None,
                    overload: false,
                }
            } else {
                DtoId {
                    odt: odt_no,
                    daq: Some(number),
                    overload: false,
                }
            };
            let dto = DaqPacket {
                id: Some(id),
                ctr: None,
                timestamp: None,
                data: &data,
            };
            let mut buf = vec![0u8; dto.buffer_len(&params)];
            let n = dto
                .emit(&mut buf, &params)
                .map_err(|e| Error::Daq(format!("STIM DTO: {e}")))?;
            buf.truncate(n);
            packets.push(buf);
        }
        for b in &packets {
            self.send_raw(b)?;
        }
        Ok(())
    }

    /// The polling fallback for slaves without DAQ (or for a one-off reading): reads each
    /// signal now with SHORT_UPLOAD and decodes it.
    ///
    /// # Errors
    /// As the uploads.
    pub async fn sample(&mut self, signals: &[Signal]) -> Result<Vec<Value>, Error> {
        let mut out = Vec::with_capacity(signals.len());
        for s in signals {
            let bytes = self.upload(s.addr, s.ty.size()).await?;
            out.push(decode_value(s.ty, &bytes, s.order));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::signal::{decode_run, runs_of};
    use super::*;
    use xcp_proto::ByteOrder;

    #[test]
    fn half_floats_decode_in_both_orders_one_by_one_and_in_runs() {
        // 1.0 is 0x3C00 and -2.0 is 0xC000 in IEEE half precision.
        let one = |o| decode_value(ElementType::F16, &[0x3C, 0x00], o);
        assert_eq!(one(ByteOrder::Motorola), Value::Float(1.0));
        assert_eq!(
            decode_value(ElementType::F16, &[0x00, 0x3C], ByteOrder::Intel),
            Value::Float(1.0)
        );
        let mut out = Vec::new();
        decode_run(
            ElementType::F16,
            ByteOrder::Intel,
            2,
            &[0x00, 0x3C, 0x00, 0xC0],
            &mut out,
        );
        decode_run(
            ElementType::F16,
            ByteOrder::Motorola,
            1,
            &[0xC0, 0x00],
            &mut out,
        );
        assert_eq!(
            out,
            [Value::Float(1.0), Value::Float(-2.0), Value::Float(-2.0)]
        );
        let back = encode_value(ElementType::F16, Value::Float(-2.0), ByteOrder::Motorola);
        assert_eq!(back, [0xC0, 0x00]);
    }

    const ALL: [ElementType; 10] = [
        ElementType::U8,
        ElementType::I8,
        ElementType::U16,
        ElementType::I16,
        ElementType::U32,
        ElementType::I32,
        ElementType::U64,
        ElementType::I64,
        ElementType::F32,
        ElementType::F64,
    ];

    #[test]
    fn runs_decode_like_their_elements_one_by_one() {
        // Every type and byte order, in runs of 1 to 5 elements, over bytes that differ
        // everywhere; a run decodes to exactly what its elements decode to one at a time.
        let bytes: Vec<u8> = (0..64u8)
            .map(|i| i.wrapping_mul(37).wrapping_add(0x81))
            .collect();
        for ty in ALL {
            for order in [ByteOrder::Intel, ByteOrder::Motorola] {
                for n in 1..=5 {
                    let mut got = vec![Value::Uint(99)];
                    decode_run(ty, order, n, &bytes[..n * ty.size()], &mut got);
                    let want: Vec<Value> = std::iter::once(Value::Uint(99))
                        .chain((0..n).map(|i| decode_value(ty, &bytes[i * ty.size()..], order)))
                        .collect();
                    assert_eq!(got, want, "{ty:?} {order:?} x{n}");
                }
                // Too few bytes: the missing elements read as zero, the count stays.
                let mut got = Vec::new();
                decode_run(ty, order, 3, &bytes[..ty.size() + 1], &mut got);
                assert_eq!(got.len(), 3, "{ty:?} {order:?} short");
                assert_eq!(
                    got[0],
                    decode_value(ty, &bytes, order),
                    "{ty:?} {order:?} short"
                );
                assert_eq!(
                    got[2],
                    decode_value(ty, &[], order),
                    "{ty:?} {order:?} short"
                );
            }
        }
    }

    #[test]
    fn adjacent_signals_of_one_type_and_order_form_runs() {
        use ByteOrder::{Intel, Motorola};
        use ElementType::{F32, U8, U32};
        let types = [
            (U32, Intel, 0),
            (U32, Intel, 4),
            (U32, Intel, 8),
            (U32, Motorola, 12),
            (F32, Motorola, 16),
            (F32, Motorola, 24), // a gap: a new run
            (U8, Intel, 28),
            (U8, Intel, 29),
        ];
        assert_eq!(
            runs_of(&types),
            vec![
                (U32, Intel, 0, 3),
                (U32, Motorola, 12, 1),
                (F32, Motorola, 16, 1),
                (F32, Motorola, 24, 1),
                (U8, Intel, 28, 2),
            ]
        );
    }

    #[test]
    fn elements_decode_from_either_byte_order() {
        let bytes = [0x81, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08];
        let cases = [
            (ElementType::U8, Value::Uint(0x81), Value::Uint(0x81)),
            (ElementType::I8, Value::Int(-127), Value::Int(-127)),
            (ElementType::U16, Value::Uint(0x0281), Value::Uint(0x8102)),
            (ElementType::I16, Value::Int(0x0281), Value::Int(-0x7EFE)),
            (
                ElementType::U32,
                Value::Uint(0x0403_0281),
                Value::Uint(0x8102_0304),
            ),
            (
                ElementType::U64,
                Value::Uint(0x0807_0605_0403_0281),
                Value::Uint(0x8102_0304_0506_0708),
            ),
        ];
        for (ty, intel, motorola) in cases {
            let b = &bytes[..ty.size()];
            assert_eq!(decode_value(ty, b, ByteOrder::Intel), intel, "{ty:?} Intel");
            assert_eq!(
                decode_value(ty, b, ByteOrder::Motorola),
                motorola,
                "{ty:?} Motorola"
            );
        }
        assert_eq!(
            decode_value(ElementType::F32, &1.5f32.to_be_bytes(), ByteOrder::Motorola),
            Value::Float(1.5)
        );
        assert_eq!(
            decode_value(
                ElementType::F64,
                &(-2.25f64).to_le_bytes(),
                ByteOrder::Intel
            ),
            Value::Float(-2.25)
        );
    }

    #[test]
    #[allow(
        clippy::cast_possible_wrap,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "the expected values of small test numbers"
    )]
    fn encoded_values_decode_back_and_missing_bytes_read_as_zero() {
        for ty in ALL {
            for order in [ByteOrder::Intel, ByteOrder::Motorola] {
                for v in [
                    Value::Uint(0),
                    Value::Uint(100),
                    Value::Int(-5),
                    Value::Float(3.0),
                ] {
                    let signed = matches!(
                        ty,
                        ElementType::I8 | ElementType::I16 | ElementType::I32 | ElementType::I64
                    );
                    let want = match (v, ty) {
                        (_, ElementType::F32 | ElementType::F64) => Value::Float(match v {
                            Value::Uint(u) => u as f64,
                            Value::Int(i) => i as f64,
                            Value::Float(f) => f,
                        }),
                        (Value::Int(i), _) if signed => Value::Int(i),
                        (Value::Int(_), _) => Value::Uint(0),
                        (Value::Uint(u), _) if signed => Value::Int(u as i64),
                        (Value::Float(f), _) if signed => Value::Int(f as i64),
                        (Value::Float(f), _) => Value::Uint(f as u64),
                        (Value::Uint(u), _) => Value::Uint(u),
                    };
                    let bytes = encode_value(ty, v, order);
                    assert_eq!(bytes.len(), ty.size());
                    assert_eq!(
                        decode_value(ty, &bytes, order),
                        want,
                        "{ty:?} {order:?} {v:?}"
                    );
                }
                let zero = if matches!(ty, ElementType::F32 | ElementType::F64) {
                    Value::Float(0.0)
                } else if matches!(
                    ty,
                    ElementType::I8 | ElementType::I16 | ElementType::I32 | ElementType::I64
                ) {
                    Value::Int(0)
                } else {
                    Value::Uint(0)
                };
                assert_eq!(decode_value(ty, &[], order), zero, "{ty:?} {order:?} empty");
            }
        }
    }
}
