//! ODT planning: a pure function of the slave's limits and the requested lists.

use xcp_proto::{Address, DaqProcessorInfo, DaqResolutionInfo, IdField, TimestampSize};

use super::signal::ListRequest;
use crate::error::Error;

/// The DAQ capabilities a configuration has to fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DaqLimits {
    /// GET_DAQ_PROCESSOR_INFO.
    pub processor: DaqProcessorInfo,
    /// GET_DAQ_RESOLUTION_INFO.
    pub resolution: DaqResolutionInfo,
    /// MAX_DTO.
    pub max_dto: u16,
    /// Address granularity in bytes.
    pub ag: usize,
    /// Entries per ODT and ODTs per list the slave allows (dynamic: 255 each).
    pub max_odt_entries: u8,
    /// ODTs per list.
    pub max_odt: u8,
}

impl DaqLimits {
    fn ts_len(&self) -> usize {
        self.resolution
            .timestamp_size()
            .map_or(0, TimestampSize::len)
    }

    /// Bytes of one ODT entry at most.
    fn max_entry_bytes(&self) -> usize {
        let n = usize::from(self.resolution.max_size_daq);
        (if n == 0 { 255 } else { n }) * self.ag
    }
}

/// One piece of a signal carried by one ODT entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedEntry {
    /// Address of the piece.
    pub addr: Address,
    /// Size in bytes.
    pub size: usize,
    /// Index of the signal in its list.
    pub signal: usize,
    /// Offset of the piece in the signal.
    pub offset: usize,
}

/// A list as packed into ODTs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedList {
    /// The request.
    pub request: ListRequest,
    /// ODTs, each a list of entries.
    pub odts: Vec<Vec<PlannedEntry>>,
}

/// Packs requests into ODTs within `limits`: every signal in one ODT (split into entries no
/// larger than MAX_ODT_ENTRY_SIZE, in multiples of the granularity), except a signal too big
/// for the first ODT beside its timestamp, or for any ODT, which continues in the next ODTs
/// (the slave samples a list's ODTs at one event); ODT payload within
/// MAX_DTO minus the identification field (and the timestamp in the first ODT), entries and
/// ODTs within the slave's counts, the address extension the same per ODT or per list where
/// the key byte demands it, and at most 252 ODTs in all with absolute ODT numbers.
///
/// # Errors
/// [`Error::Daq`] naming the signal or limit that does not fit.
pub fn plan(limits: &DaqLimits, requests: &[ListRequest]) -> Result<Vec<PlannedList>, Error> {
    let id_len = limits.processor.id_field().len();
    let ts_len = limits.ts_len();
    let gran = usize::from(limits.resolution.granularity_daq).max(1);
    let max_entry = limits.max_entry_bytes() / gran * gran;
    let ext_scope = (limits.processor.key_byte >> 4) & 3;
    let mut total_odts = 0usize;
    let mut out = Vec::with_capacity(requests.len());
    for (li, req) in requests.iter().enumerate() {
        if req.signals.is_empty() {
            return Err(Error::Daq(format!(
                "list {li} (event {}) has no signals",
                req.event
            )));
        }
        if req.timestamps && ts_len == 0 {
            return Err(Error::Daq(
                "timestamps requested, but the slave has none (GET_DAQ_RESOLUTION_INFO)".to_owned(),
            ));
        }
        if ext_scope == 2
            && let Some(s) = req
                .signals
                .iter()
                .find(|s| s.addr.ext != req.signals[0].addr.ext)
        {
            return Err(Error::Daq(format!(
                "{} has address extension {} but the slave needs one extension per DAQ list",
                s.name, s.addr.ext
            )));
        }
        let mut odts: Vec<Vec<PlannedEntry>> = Vec::new();
        let mut used = 0usize;
        for (si, s) in req.signals.iter().enumerate() {
            let size = s.ty.size();
            if size % gran != 0 || size % limits.ag != 0 {
                return Err(Error::Daq(format!(
                    "{}: {size}-byte elements do not fit the ODT entry granularity {gran}",
                    s.name
                )));
            }
            let pieces = size.div_ceil(max_entry.max(gran));
            let capacity = |first: bool| {
                usize::from(limits.max_dto)
                    .saturating_sub(id_len)
                    .saturating_sub(if first && req.timestamps { ts_len } else { 0 })
            };
            // A signal no ODT holds whole (eight bytes on classic CAN) is spread over the
            // ODTs that follow, packed from where the last one left off.
            let larger_than_odts = size > capacity(false);
            let need_new = match odts.last() {
                None => true,
                Some(_) if larger_than_odts => false,
                Some(odt) => {
                    used + size > capacity(odts.len() == 1)
                        || odt.len() + pieces > usize::from(limits.max_odt_entries)
                        || (ext_scope == 1 && odt.first().is_some_and(|e| e.addr.ext != s.addr.ext))
                }
            };
            if need_new {
                odts.push(Vec::new());
                used = 0;
            }
            // A signal too big for the first ODT beside the timestamp (eight-byte CAN frames
            // leave three bytes) starts there and goes on in the next ODTs: the slave samples
            // a list's ODTs together, and the decoder assembles the row from all of them.
            let spill = larger_than_odts || (odts.len() == 1 && size > capacity(true));
            let mut off = 0;
            while off < size {
                let first = odts.len() == 1;
                let room = capacity(first).saturating_sub(used) / gran * gran;
                let full = odts
                    .last()
                    .is_some_and(|o| o.len() >= usize::from(limits.max_odt_entries));
                if room == 0 || full {
                    if !spill {
                        return Err(Error::Daq(format!(
                            "{}: {size} bytes do not fit an ODT (MAX_DTO {})",
                            s.name, limits.max_dto
                        )));
                    }
                    if first && odts.last().is_some_and(Vec::is_empty) {
                        return Err(Error::Daq(format!(
                            "the first ODT has no room after its identification field and \
                             timestamp (MAX_DTO {}); {} cannot start in it",
                            limits.max_dto, s.name
                        )));
                    }
                    odts.push(Vec::new());
                    used = 0;
                    continue;
                }
                let n = (size - off).min(max_entry).min(room);
                let addr = Address::new(
                    s.addr.ext,
                    s.addr
                        .addr
                        .checked_add(u32::try_from(off / limits.ag).unwrap_or(u32::MAX))
                        .ok_or_else(|| Error::Daq(format!("{}: address overflow", s.name)))?,
                );
                let odt = odts
                    .last_mut()
                    .ok_or_else(|| Error::Daq("internal".to_owned()))?;
                odt.push(PlannedEntry {
                    addr,
                    size: n,
                    signal: si,
                    offset: off,
                });
                off += n;
                used += n;
            }
        }
        if odts.len() > usize::from(limits.max_odt) {
            return Err(Error::Daq(format!(
                "list {li} needs {} ODTs; the slave allows {}",
                odts.len(),
                limits.max_odt
            )));
        }
        total_odts += odts.len();
        out.push(PlannedList {
            request: req.clone(),
            odts,
        });
    }
    let pid_limit = if limits.processor.overload_pid_msb() {
        0x7C
    } else {
        0xFC
    };
    if limits.processor.id_field() == IdField::AbsoluteOdt && total_odts > pid_limit {
        return Err(Error::Daq(format!(
            "{total_odts} ODTs in all; absolute ODT numbers allow {pid_limit}"
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use xcp_proto::{Address, ByteOrder, DaqProcessorInfo, DaqResolutionInfo};

    use super::*;
    use crate::daq::signal::Signal;
    use xcp_proto::ElementType;

    /// Eight-byte DTOs with a one-byte identification field and a four-byte timestamp: the
    /// limits of classic CAN.
    fn can_limits() -> DaqLimits {
        DaqLimits {
            processor: DaqProcessorInfo {
                properties: 0x11,
                max_daq: 16,
                max_event: 4,
                min_daq: 0,
                key_byte: 0,
            },
            resolution: DaqResolutionInfo {
                granularity_daq: 1,
                max_size_daq: 8,
                granularity_stim: 1,
                max_size_stim: 8,
                timestamp_mode: 0x04 | 0x30,
                timestamp_ticks: 1,
            },
            max_dto: 8,
            ag: 1,
            max_odt_entries: 255,
            max_odt: 255,
        }
    }

    fn signal(name: &str, addr: u32, ty: ElementType) -> Signal {
        Signal {
            name: name.to_owned(),
            addr: Address::new(1, addr),
            ty,
            order: ByteOrder::Intel,
        }
    }

    #[test]
    fn signals_too_big_for_an_odt_continue_in_the_next() {
        let req = ListRequest {
            event: 0,
            prescaler: 1,
            priority: 0,
            timestamps: true,
            stim: false,
            signals: vec![
                signal("a", 0x100, ElementType::U32),
                signal("b", 0x200, ElementType::U32),
                signal("c", 0x300, ElementType::U64),
            ],
        };
        let planned = plan(&can_limits(), &[req]).expect("fits");
        let odts: Vec<Vec<(u32, usize, usize, usize)>> = planned[0]
            .odts
            .iter()
            .map(|o| {
                o.iter()
                    .map(|e| (e.addr.addr, e.size, e.signal, e.offset))
                    .collect()
            })
            .collect();
        // 3 bytes beside the timestamp, then 7 bytes per ODT; each piece where its signal
        // continues.
        assert_eq!(
            odts,
            vec![
                vec![(0x100, 3, 0, 0)],
                vec![(0x103, 1, 0, 3), (0x200, 4, 1, 0), (0x300, 2, 2, 0)],
                vec![(0x302, 6, 2, 2)],
            ]
        );
        // Without a timestamp the first ODT holds seven bytes: a and b stay whole.
        let mut plain = planned[0].request.clone();
        plain.timestamps = false;
        let planned = plan(&can_limits(), &[plain]).expect("fits");
        assert_eq!(planned[0].odts[0].len(), 1);
        assert_eq!(planned[0].odts[1][0].size, 4);
    }
}
