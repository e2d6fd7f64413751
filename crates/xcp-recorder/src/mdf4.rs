//! MDF 4.10 export, our own writer: sorted, one data group per DAQ list, a master time
//! channel in seconds since the first frame (the slave's timestamp on the host clock when the
//! recording has a clock correlation and the list timestamps, else the host time of
//! arrival), one channel per signal
//! with its raw type and its conversion as an MDF conversion block (linear, rational,
//! tables, value-to-text, range-to-text), units as text.
//!
//! Conversions MDF cannot express the way the A2L means them (a RAT_FUNC whose inverse is not
//! rational, TAB_NOINTP's exact-or-default lookup, FORM) are exported as physical values in a
//! float64 channel.
//!
//! The file is written in one pass over the recording: metadata blocks first, then the
//! records, each list's gathered in a buffer that goes out as a DT block whenever it passes
//! 1 MiB (a list with several gets a DL block listing them), the groups' data links and
//! record counts patched at the end. Memory: a fragment per list.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::Path;

use xcp_a2l::Conversion;

use crate::decode::{Column, Decoder};
use crate::error::Error;
use crate::reader::Reader;
use crate::source::{Chunk, ChunkOut, ChunkWorker, Source};

/// What an export wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mdf4Summary {
    /// Data groups (one per list).
    pub groups: usize,
    /// Channels, master channels included.
    pub channels: usize,
    /// Records written.
    pub records: u64,
}

/// A block before serialisation: links are indices into the block list (or none).
struct Block {
    id: [u8; 4],
    links: Vec<Option<usize>>,
    data: Vec<u8>,
}

impl Block {
    fn unpadded(&self) -> usize {
        24 + self.links.len() * 8 + self.data.len()
    }

    /// Its length in the file, padding included.
    fn len(&self) -> u64 {
        (self.unpadded().div_ceil(8) * 8) as u64
    }
}

struct Blocks(Vec<Block>);

impl Blocks {
    fn add(&mut self, id: &[u8; 4], links: Vec<Option<usize>>, data: Vec<u8>) -> usize {
        self.0.push(Block {
            id: *id,
            links,
            data,
        });
        self.0.len() - 1
    }

    fn text(&mut self, s: &str) -> usize {
        let mut d = s.as_bytes().to_vec();
        d.push(0);
        self.add(b"##TX", Vec::new(), d)
    }
}

/// How a signal's values are stored.
enum Stored {
    /// The raw value with this MDF data type and an optional conversion block.
    Raw { data_type: u8, cc: Option<usize> },
    /// The physical value as float64 (a conversion MDF cannot express).
    Physical,
}

fn data_type(c: &Column) -> u8 {
    let be = c.motorola();
    match (c.is_float(), c.is_signed(), be) {
        (true, _, false) => 4,
        (true, _, true) => 5,
        (false, true, false) => 2,
        (false, true, true) => 3,
        (false, false, false) => 0,
        (false, false, true) => 1,
    }
}

fn f64s(v: &[f64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The CC block for a column, or `None` for identity, or `Err(())` when MDF cannot express it.
fn conversion(blocks: &mut Blocks, c: &Column) -> Result<Option<usize>, ()> {
    let cc = |blocks: &mut Blocks, ty: u8, refs: Vec<Option<usize>>, vals: &[f64]| {
        let unit = (!c.unit.is_empty()).then(|| blocks.text(&c.unit));
        let mut links = vec![None, unit, None, None];
        let ref_count = refs.len();
        links.extend(refs);
        // cc_type, precision, flags 0 (no physical range given).
        let mut d = vec![ty, 0, 0, 0];
        d.extend_from_slice(&u16::try_from(ref_count).unwrap_or(0).to_le_bytes());
        d.extend_from_slice(&u16::try_from(vals.len()).unwrap_or(0).to_le_bytes());
        d.extend_from_slice(&0f64.to_le_bytes());
        d.extend_from_slice(&0f64.to_le_bytes());
        d.extend_from_slice(&f64s(vals));
        blocks.add(b"##CC", links, d)
    };
    Ok(match &c.compu.conversion {
        Conversion::Identical => None,
        Conversion::Linear { a, b } => Some(cc(blocks, 1, Vec::new(), &[*b, *a])),
        Conversion::RatFunc { coeffs } => {
            let [a, b, c_, d, e, f] = *coeffs;
            if a != 0.0 || d != 0.0 {
                return Err(());
            }
            // raw = (b·p + c) / (e·p + f)  ⇒  p = (c − f·raw) / (e·raw − b)
            Some(cc(blocks, 2, Vec::new(), &[0.0, -f, c_, 0.0, e, -b]))
        }
        Conversion::TabIntp { table, .. } => {
            let vals: Vec<f64> = table.iter().flat_map(|(k, v)| [*k, *v]).collect();
            Some(cc(blocks, 3, Vec::new(), &vals))
        }
        Conversion::TabVerb(t) => {
            let ranges = t.entries.iter().any(|(lo, hi, _)| lo != hi);
            let mut refs: Vec<Option<usize>> = t
                .entries
                .iter()
                .map(|(_, _, s)| Some(blocks.text(s)))
                .collect();
            refs.push(t.default.as_ref().map(|d| blocks.text(d)));
            if ranges {
                let vals: Vec<f64> = t
                    .entries
                    .iter()
                    .flat_map(|(lo, hi, _)| [*lo, *hi])
                    .collect();
                Some(cc(blocks, 8, refs, &vals))
            } else {
                let vals: Vec<f64> = t.entries.iter().map(|(k, _, _)| *k).collect();
                Some(cc(blocks, 7, refs, &vals))
            }
        }
        _ => return Err(()),
    })
}

/// One CN block's fields.
struct Channel<'a> {
    name: &'a str,
    unit: &'a str,
    /// 0 value, 2 master.
    cn_type: u8,
    /// 0 none, 1 time.
    sync: u8,
    data_type: u8,
    byte_offset: u32,
    bits: u32,
    cc: Option<usize>,
}

fn channel(blocks: &mut Blocks, c: &Channel<'_>) -> usize {
    let tx = Some(blocks.text(c.name));
    let md_unit = (!c.unit.is_empty()).then(|| blocks.text(c.unit));
    let cc = c.cc;
    let mut d = vec![c.cn_type, c.sync, c.data_type, 0];
    d.extend_from_slice(&c.byte_offset.to_le_bytes());
    d.extend_from_slice(&c.bits.to_le_bytes());
    d.extend_from_slice(&0u32.to_le_bytes()); // flags
    d.extend_from_slice(&0u32.to_le_bytes()); // invalidation bit
    d.extend_from_slice(&[0, 0]); // precision, reserved
    d.extend_from_slice(&0u16.to_le_bytes()); // attachments
    d.extend_from_slice(&f64s(&[0.0; 6]));
    blocks.add(
        b"##CN",
        vec![None, None, tx, None, cc, None, md_unit, None],
        d,
    )
}

/// The slave clock mapped onto the host clock from the recording's correlation: ticks are
/// extended past their wraparound with the host time of arrival as the guide. A recording of
/// several slaves holds each slave's clock readings from before, during and after the
/// measurement (`daq.clock_points`); ticks then map through the line between the two readings
/// around them (past the ends, the nearest two), which removes the slave clock's drift.
pub(crate) struct SlaveClock {
    period: u64,
    tick_ns: f64,
    anchor_host: u64,
    anchor_raw: u64,
    last_ext: u64,
    last_host: u64,
    /// Readings as (extended ticks, host ns), ticks strictly increasing; empty or one: the
    /// nominal tick from the anchor.
    points: Vec<(u64, u64)>,
    /// The segment (`points[seg]`, `points[seg + 1]`) the last ticks fell in.
    seg: usize,
}

impl SlaveClock {
    pub(crate) fn from_meta(meta: &serde_json::Value) -> Option<Self> {
        let c = &meta["daq"]["clock"];
        let bytes = c["bytes"].as_u64()?;
        let raw = c["raw"].as_u64()?;
        let host = c["host_ns"].as_u64()?;
        let mut clock = Self {
            period: 1u64.checked_shl(u32::try_from(bytes * 8).ok()?)?,
            tick_ns: c["tick_ns"].as_f64().filter(|t| *t > 0.0)?,
            anchor_host: host,
            anchor_raw: raw,
            last_ext: raw,
            last_host: host,
            points: Vec::new(),
            seg: 0,
        };
        let mut readings: Vec<(u64, u64)> = meta["daq"]["clock_points"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| Some((p[0].as_u64()?, p[1].as_u64()?)))
            .filter(|&(h, _)| h >= host)
            .collect();
        readings.sort_unstable();
        if !readings.is_empty() {
            // The readings' ticks extended the way the frames' are, from the anchor.
            let mut points = vec![(raw, host)];
            for (h, r) in readings {
                #[allow(
                    clippy::cast_possible_truncation,
                    reason = "ticks cut to the timestamp width"
                )]
                let ext = clock.extend(r as u32, h);
                if points.last().is_none_or(|&(x, _)| ext > x) {
                    points.push((ext, h));
                }
            }
            clock.last_ext = raw;
            clock.last_host = host;
            clock.points = points;
        }
        Some(clock)
    }

    /// Extends `raw` past the wraps since the last reading, guided by the host time.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "tick arithmetic in f64 is exact far beyond any recording's length"
    )]
    fn extend(&mut self, raw: u32, host_ns: u64) -> u64 {
        let step = u64::from(raw).wrapping_sub(self.last_ext) & (self.period - 1);
        let host_ticks = host_ns.saturating_sub(self.last_host) as f64 / self.tick_ns;
        let wraps = ((host_ticks - step as f64) / self.period as f64)
            .round()
            .max(0.0) as u64;
        self.last_ext += step + wraps * self.period;
        self.last_host = host_ns;
        self.last_ext
    }

    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "tick arithmetic in f64 is exact far beyond any recording's length"
    )]
    pub(crate) fn host_ns(&mut self, raw: u32, host_ns: u64) -> u64 {
        let ext = self.extend(raw, host_ns);
        if self.points.len() < 2 {
            let since = (ext - self.anchor_raw) as f64 * self.tick_ns;
            return self.anchor_host + since.round() as u64;
        }
        let last = self.points.len() - 2;
        while self.seg < last && ext >= self.points[self.seg + 1].0 {
            self.seg += 1;
        }
        while self.seg > 0 && ext < self.points[self.seg].0 {
            self.seg -= 1;
        }
        let ((x0, h0), (x1, h1)) = (self.points[self.seg], self.points[self.seg + 1]);
        let rate = (h1 - h0) as f64 / (x1 - x0) as f64;
        let at = h0 as f64 + (i128::from(ext) - i128::from(x0)) as f64 * rate;
        at.round().max(0.0) as u64
    }
}

/// Seconds from `start_ns` to `at_ns`, negative when `at_ns` comes first (a slave timestamp
/// precedes the first frame's arrival by the link delay).
#[allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_wrap,
    reason = "differences of Unix nanoseconds fit i64 for 292 years; f64 keeps ns for 104 days"
)]
pub(crate) fn seconds_since(at_ns: u64, start_ns: u64) -> f64 {
    at_ns.wrapping_sub(start_ns).cast_signed() as f64 / 1e9
}

/// Exports the recording at `input` to MDF 4.10 at `output`.
///
/// # Errors
/// The reader's errors; [`Error::Io`] when `output` cannot be written; [`Error::Meta`] when
/// the recording has no DAQ layout.
pub fn export(input: &Path, output: &Path) -> Result<Mdf4Summary, Error> {
    export_from(&mut Reader::open(input)?, output)
}

/// Exports the frames of `reader` (a recording, or a pyXCP file read in place) to MDF 4.10 at
/// `output`.
///
/// # Errors
/// As [`export`].
pub fn export_from(reader: &mut dyn Source, output: &Path) -> Result<Mdf4Summary, Error> {
    export_in(reader, output, true)
}

/// The HD and FH blocks (MDF readers expect them right after the ID block); the HD's index.
fn header_blocks(blocks: &mut Blocks, start_ns: u64, comment: &str) -> usize {
    let mut hd_data = start_ns.to_le_bytes().to_vec();
    hd_data.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
    hd_data.extend_from_slice(&f64s(&[0.0, 0.0]));
    let hd = blocks.add(b"##HD", vec![None; 6], hd_data);
    let fh_md = blocks.add(
        b"##MD",
        Vec::new(),
        format!("<FHcomment><TX>{}</TX><tool_id>xcpkit</tool_id><tool_vendor>xcpkit</tool_vendor><tool_version>0.1</tool_version></FHcomment>\0", xml_escape(comment)).into_bytes(),
    );
    let mut fh_data = start_ns.to_le_bytes().to_vec();
    fh_data.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
    let fh = blocks.add(b"##FH", vec![None, Some(fh_md)], fh_data);
    blocks.0[hd].links[1] = Some(fh);
    hd
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A data group of the file: its DG and CG blocks and how each column is stored.
struct Group {
    dg: usize,
    cg: usize,
    stored: Vec<(Stored, usize)>,
}

/// Adds the channels, CG and DG of list `l` (record layout: time f64, then the values),
/// chained after `prev_dg` (else first under the HD `hd`); channel names get `prefix`, and
/// the CG names `source` (an SI block) when given. The group and its channel count.
fn list_group(
    blocks: &mut Blocks,
    l: &crate::decode::List,
    prefix: &str,
    source: Option<usize>,
    hd: usize,
    prev_dg: Option<usize>,
) -> (Group, usize) {
    let mut cns = Vec::new();
    let stored: Vec<(Stored, usize)> = l
        .columns
        .iter()
        .map(|c| match conversion(blocks, c) {
            Ok(cc) => (
                Stored::Raw {
                    data_type: data_type(c),
                    cc,
                },
                c.size,
            ),
            Err(()) => (Stored::Physical, 8),
        })
        .collect();
    // A record is the time, then the row's bytes as the decoder lays them out where every
    // value is stored raw; else the values in column order.
    let verbatim = stored.iter().all(|(s, _)| matches!(s, Stored::Raw { .. }));
    let mut offset = 8u32;
    for (i, (c, (s, size))) in l.columns.iter().zip(&stored).enumerate() {
        let (dt, cc) = match s {
            Stored::Raw { data_type, cc } => (*data_type, *cc),
            Stored::Physical => (4, None),
        };
        let bits = u32::try_from(size * 8).unwrap_or(64);
        let byte_offset = match l.offsets().get(i) {
            Some(&at) if verbatim => 8 + u32::try_from(at).unwrap_or(0),
            _ => offset,
        };
        let name = format!("{prefix}{}", c.name);
        cns.push(channel(
            blocks,
            &Channel {
                name: &name,
                unit: &c.unit,
                cn_type: 0,
                sync: 0,
                data_type: dt,
                byte_offset,
                bits,
                cc,
            },
        ));
        offset += u32::try_from(*size).unwrap_or(8);
    }
    let time = channel(
        blocks,
        &Channel {
            name: "time",
            unit: "s",
            cn_type: 2,
            sync: 1,
            data_type: 4,
            byte_offset: 0,
            bits: 64,
            cc: None,
        },
    );
    // Chain: time first, then the signals.
    let mut chain = vec![time];
    chain.extend(cns);
    for w in chain.windows(2) {
        blocks.0[w[0]].links[0] = Some(w[1]);
    }
    let acq = Some(blocks.text(&format!(
        "{prefix}DAQ list {} (event {})",
        l.number, l.event
    )));
    let mut cg_data = Vec::new();
    cg_data.extend_from_slice(&0u64.to_le_bytes()); // record id
    cg_data.extend_from_slice(&0u64.to_le_bytes()); // cycle count, patched
    cg_data.extend_from_slice(&0u16.to_le_bytes()); // flags
    cg_data.extend_from_slice(&0u16.to_le_bytes()); // path separator
    cg_data.extend_from_slice(&[0, 0, 0, 0]);
    cg_data.extend_from_slice(&offset.to_le_bytes()); // data bytes
    cg_data.extend_from_slice(&0u32.to_le_bytes()); // invalidation bytes
    let cg = blocks.add(
        b"##CG",
        vec![None, Some(time), acq, source, None, None],
        cg_data,
    );
    let dg = blocks.add(b"##DG", vec![None, Some(cg), None, None], vec![0; 8]);
    match prev_dg {
        Some(p) => blocks.0[p].links[0] = Some(dg),
        None => blocks.0[hd].links[0] = Some(dg),
    }
    (Group { dg, cg, stored }, chain.len())
}

/// An SI block naming a slave as an ECU on its bus (`url`'s scheme), with `path` (the URL)
/// and a comment.
fn source_block(blocks: &mut Blocks, name: &str, url: &str, comment: &str) -> usize {
    let bus = match url.split("://").next().unwrap_or("") {
        "tcp" | "udp" => 7,
        "can" => 2,
        "usb" => 8,
        "sxi" => 1,
        _ => 0,
    };
    let tx_name = Some(blocks.text(name));
    let tx_path = Some(blocks.text(url));
    let md = Some(blocks.add(
        b"##MD",
        Vec::new(),
        format!("<SIcomment><TX>{}</TX></SIcomment>\0", xml_escape(comment)).into_bytes(),
    ));
    // Type ECU (1), the bus, no flags.
    blocks.add(
        b"##SI",
        vec![tx_name, tx_path, md],
        vec![1, bus, 0, 0, 0, 0, 0, 0],
    )
}

/// Writes the ID block and `blocks` to a new `output`; the file, each block's offset and the
/// position after them.
fn write_head(blocks: &Blocks, output: &Path) -> Result<(BufWriter<File>, Vec<u64>, u64), Error> {
    let io = |what: &'static str| {
        move |source| Error::Io {
            path: output.to_owned(),
            what,
            source,
        }
    };
    // Offsets: the ID block takes the first 64 bytes.
    let mut offsets = Vec::with_capacity(blocks.0.len());
    let mut at = 64u64;
    for b in &blocks.0 {
        offsets.push(at);
        at += b.len();
    }
    let file = File::create(output).map_err(io("create"))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let mut id = [0u8; 64];
    id[..8].copy_from_slice(b"MDF     ");
    id[8..16].copy_from_slice(b"4.10    ");
    id[16..24].copy_from_slice(b"xcpkit  ");
    id[28..30].copy_from_slice(&410u16.to_le_bytes());
    w.write_all(&id).map_err(io("write"))?;
    for b in &blocks.0 {
        let links: Vec<u64> = b
            .links
            .iter()
            .map(|l| l.map_or(0, |i| offsets[i]))
            .collect();
        write_block(&mut w, &b.id, &links, &b.data).map_err(io("write"))?;
    }
    Ok((w, offsets, at))
}

/// What the metadata phase wrote: the groups, each block's offset, the channels.
struct Written<'a> {
    groups: &'a [Group],
    offsets: &'a [u64],
    channels: usize,
}

/// After the records: each group's last fragment, a DL block for a group of several, and the
/// groups' data links and record counts patched in; the file flushed (not synced: an export
/// is derived from the recording, which is synced at its close, and can be made again).
fn finish_data(
    mut w: BufWriter<File>,
    mut pos: u64,
    written: &Written<'_>,
    pending: &[Vec<u8>],
    fragments: &mut [Vec<(u64, u64)>],
    records: &[u64],
    output: &Path,
) -> Result<Mdf4Summary, Error> {
    let (groups, offsets) = (written.groups, written.offsets);
    let io = |what: &'static str| {
        move |source| Error::Io {
            path: output.to_owned(),
            what,
            source,
        }
    };
    for (li, rec) in pending.iter().enumerate() {
        // A list without records still gets its (empty) DT block.
        if !rec.is_empty() || fragments[li].is_empty() {
            fragments[li].push((pos, rec.len() as u64));
            pos += write_block(&mut w, b"##DT", &[], rec).map_err(io("write"))?;
        }
    }
    let mut data_links = Vec::with_capacity(groups.len());
    for frags in fragments.iter() {
        if let [(only, _)] = frags[..] {
            data_links.push(only);
            continue;
        }
        // DL: no next list; flags 0 (fragments of their own lengths), then the offset of each
        // fragment in the group's data.
        let links: Vec<u64> = std::iter::once(0)
            .chain(frags.iter().map(|f| f.0))
            .collect();
        let mut data = vec![0u8; 4];
        data.extend_from_slice(&u32::try_from(frags.len()).unwrap_or(u32::MAX).to_le_bytes());
        let mut offset = 0u64;
        for &(_, len) in frags {
            data.extend_from_slice(&offset.to_le_bytes());
            offset += len;
        }
        data_links.push(pos);
        pos += write_block(&mut w, b"##DL", &links, &data).map_err(io("write"))?;
    }
    // Patched: each DG's data link (its third link), each CG's cycle count (its second data
    // word).
    for (g, (link, n)) in groups.iter().zip(data_links.iter().zip(records)) {
        w.seek(SeekFrom::Start(offsets[g.dg] + 24 + 2 * 8))
            .map_err(io("seek"))?;
        w.write_all(&link.to_le_bytes()).map_err(io("write"))?;
        w.seek(SeekFrom::Start(offsets[g.cg] + 24 + 6 * 8 + 8))
            .map_err(io("seek"))?;
        w.write_all(&n.to_le_bytes()).map_err(io("write"))?;
    }
    w.into_inner().map_err(|e| Error::Io {
        path: output.to_owned(),
        what: "flush",
        source: e.into_error(),
    })?;
    Ok(Mdf4Summary {
        groups: groups.len(),
        channels: written.channels,
        records: records.iter().sum(),
    })
}

/// [`export_from`]; `chunks` false decodes every frame on the calling thread even where rows
/// stand alone (the tests compare both ways).
fn export_in(reader: &mut dyn Source, output: &Path, chunks: bool) -> Result<Mdf4Summary, Error> {
    if crate::multi::is_multi(reader.meta()) {
        return export_slaves(reader, output);
    }
    let mut dec = Decoder::new(reader.meta())?;
    let start_ns = reader.first_ns().unwrap_or(0);
    let mut blocks = Blocks(Vec::new());
    let hd = header_blocks(&mut blocks, start_ns, "exported from an xcpkit recording");
    let mut groups = Vec::new();
    let mut channels = 0;
    for l in &dec.lists {
        let prev = groups.last().map(|g: &Group| g.dg);
        let (g, n) = list_group(&mut blocks, l, "", None, hd, prev);
        channels += n;
        groups.push(g);
    }
    let (mut w, offsets, mut pos) = write_head(&blocks, output)?;

    // Data: one pass over the recording. Each list's records gather in a buffer of its own
    // that goes to the file as a DT block whenever it passes `FRAGMENT` bytes; a list with
    // several such blocks gets a DL block listing them. Memory: one fragment per list.
    let mut pending: Vec<Vec<u8>> = groups.iter().map(|_| Vec::new()).collect();
    let mut fragments: Vec<Vec<(u64, u64)>> = groups.iter().map(|_| Vec::new()).collect();
    let mut records = vec![0u64; groups.len()];
    let mut clocks: Vec<Option<SlaveClock>> = groups
        .iter()
        .map(|_| SlaveClock::from_meta(reader.meta()))
        .collect();
    let all_raw = all_raw(&groups);
    let timed: Vec<bool> = clocks.iter().map(Option::is_some).collect();
    let mut data = Data {
        w: &mut w,
        pos: &mut pos,
        pending: &mut pending,
        fragments: &mut fragments,
        records: &mut records,
        clocks: &mut clocks,
    };
    if chunks && dec.rows_stand_alone() {
        let stored: Vec<&[(Stored, usize)]> = groups.iter().map(|g| g.stored.as_slice()).collect();
        let plan = ChunkPlan {
            start_ns,
            all_raw: &all_raw,
            stored: &stored,
            timed: &timed,
        };
        let (incomplete, unknown) = plan.run(reader, output, &mut data)?;
        dec.incomplete += incomplete;
        dec.unknown += unknown;
    } else {
        let (decs, untagged) = (std::slice::from_mut(&mut dec), None);
        records_in_order(reader, decs, untagged, &groups, start_ns, output, &mut data)?;
    }
    let written = Written {
        groups: &groups,
        offsets: &offsets,
        channels,
    };
    finish_data(w, pos, &written, &pending, &mut fragments, &records, output)
}

/// The export of a recording of several slaves: a data group per slave and list, its
/// channels named `LABEL.NAME`, its acquisition source (an SI block) naming the slave; every
/// time on the host's axis through the slave's own clock readings.
fn export_slaves(reader: &mut dyn Source, output: &Path) -> Result<Mdf4Summary, Error> {
    let slaves = crate::multi::Slaves::scan(reader)?;
    let start_ns = reader.first_ns().unwrap_or(0);
    let mut decs = Vec::new();
    for s in &slaves.slaves {
        decs.push(
            Decoder::new(&s.meta).map_err(|e| Error::Meta(format!("slave {}: {e}", s.label)))?,
        );
    }
    let mut blocks = Blocks(Vec::new());
    let names: Vec<&str> = slaves.slaves.iter().map(|s| s.label.as_str()).collect();
    let hd = header_blocks(
        &mut blocks,
        start_ns,
        &format!("exported from an xcpkit recording of {}", names.join(", ")),
    );
    let (mut groups, mut base, mut clocks) = (Vec::new(), Vec::new(), Vec::new());
    let mut channels = 0;
    for (s, dec) in slaves.slaves.iter().zip(&decs) {
        let url = s.meta["slave"]["transport"].as_str().unwrap_or("");
        let comment = format!(
            "XCP slave {url}, EPK {}",
            s.meta["slave"]["epk"].as_str().unwrap_or("unknown")
        );
        let si = source_block(&mut blocks, &s.label, url, &comment);
        base.push(groups.len());
        for l in &dec.lists {
            let prev = groups.last().map(|g: &Group| g.dg);
            let (g, n) = list_group(&mut blocks, l, &format!("{}.", s.label), Some(si), hd, prev);
            channels += n;
            groups.push(g);
            clocks.push(SlaveClock::from_meta(&s.meta));
        }
    }
    let (mut w, offsets, mut pos) = write_head(&blocks, output)?;
    let mut pending: Vec<Vec<u8>> = groups.iter().map(|_| Vec::new()).collect();
    let mut fragments: Vec<Vec<(u64, u64)>> = groups.iter().map(|_| Vec::new()).collect();
    let mut records = vec![0u64; groups.len()];
    let mut data = Data {
        w: &mut w,
        pos: &mut pos,
        pending: &mut pending,
        fragments: &mut fragments,
        records: &mut records,
        clocks: &mut clocks,
    };
    records_in_order(
        reader,
        &mut decs,
        Some(&base),
        &groups,
        start_ns,
        output,
        &mut data,
    )?;
    let written = Written {
        groups: &groups,
        offsets: &offsets,
        channels,
    };
    finish_data(w, pos, &written, &pending, &mut fragments, &records, output)
}

/// For each group, whether every column is stored raw (a record is then the row's bytes).
fn all_raw(groups: &[Group]) -> Vec<bool> {
    groups
        .iter()
        .map(|g| {
            g.stored
                .iter()
                .all(|(s, _)| matches!(s, Stored::Raw { .. }))
        })
        .collect()
}

/// Records from every frame in order, on this thread. With `slaves` (a recording of several:
/// the first group of each slave) a frame's first byte says whose it is and which of `decs`
/// decodes it, and its rows go to that slave's groups; without, `decs` holds the one decoder.
/// A completed row becomes a record of its group, timed through the group's slave clock
/// where it has one; a group's records go out as a DT block whenever they pass a fragment.
fn records_in_order(
    reader: &mut dyn Source,
    decs: &mut [Decoder],
    slaves: Option<&[usize]>,
    groups: &[Group],
    start_ns: u64,
    output: &Path,
    data: &mut Data<'_>,
) -> Result<(), Error> {
    let all_raw = all_raw(groups);
    let mut raw = Vec::new();
    reader.each_frame(&mut |ns, bytes| {
        let (k, frame, base) = match slaves {
            None => (0, bytes, 0),
            Some(first) => match bytes.split_first() {
                Some((&tag, rest)) => {
                    let k = usize::from(tag);
                    let Some(&base) = first.get(k) else {
                        return Ok(());
                    };
                    (k, rest, base)
                }
                None => return Ok(()),
            },
        };
        let Some(dec) = decs.get_mut(k) else {
            return Ok(());
        };
        let Some(head) = dec.next_row(ns, frame) else {
            return Ok(());
        };
        let gi = base + head.list;
        let (Some(g), Some(clock)) = (groups.get(gi), data.clocks.get_mut(gi)) else {
            return Ok(());
        };
        let at = match (head.slave_ticks, clock.as_mut()) {
            (Some(raw), Some(c)) => c.host_ns(raw, ns),
            _ => ns,
        };
        let rec = &mut data.pending[gi];
        rec.extend_from_slice(&seconds_since(at, start_ns).to_le_bytes());
        let li = head.list;
        record_values(
            rec,
            dec,
            li,
            dec.row_bytes(li),
            all_raw[gi],
            &g.stored,
            &mut raw,
        );
        data.records[gi] += 1;
        if data.pending[gi].len() >= FRAGMENT {
            let full = std::mem::take(&mut data.pending[gi]);
            data.fragment(gi, &full).map_err(|source| Error::Io {
                path: output.to_owned(),
                what: "write",
                source,
            })?;
            data.pending[gi] = full;
            data.pending[gi].clear();
        }
        Ok(())
    })?;
    Ok(())
}

/// Appends the values of a row of list `li` (element bytes `row`) to its record: the bytes
/// themselves when every column is stored raw, else each column raw or as a physical double.
fn record_values(
    rec: &mut Vec<u8>,
    dec: &Decoder,
    li: usize,
    row: &[u8],
    all_raw: bool,
    stored: &[(Stored, usize)],
    raw: &mut Vec<f64>,
) {
    if all_raw {
        // The assembled element bytes are the record as MDF wants it.
        rec.extend_from_slice(row);
        return;
    }
    raw.clear();
    dec.values_from(li, row, raw);
    let columns = &dec.lists[li].columns;
    for (((s, n), raw), col) in stored.iter().zip(raw.iter()).zip(columns) {
        match s {
            Stored::Raw { .. } => {
                rec.extend_from_slice(&col.encode_raw(*raw)[..*n]);
            }
            Stored::Physical => {
                let v = match col.compu.to_physical(*raw) {
                    Ok(xcp_a2l::Value::Number(x)) => x,
                    Ok(xcp_a2l::Value::Text(_)) | Err(_) => f64::NAN,
                };
                rec.extend_from_slice(&v.to_le_bytes());
            }
        }
    }
}

/// One list's records from one chunk of frames: the record bytes and, for a list whose times
/// go through the slave clock, each record's slave ticks and host time (the time slots are
/// filled in order by the writing thread, the clock being a running state).
#[derive(Default)]
struct Part {
    bytes: Vec<u8>,
    times: Vec<(Option<u32>, u64)>,
    records: u64,
}

/// A chunk's records, per list, and what the decoder counted in the chunk.
struct ChunkRecords {
    parts: Vec<Part>,
    incomplete: u64,
    unknown: u64,
}

/// Decodes chunks of stand-alone rows into records on a thread of its own
/// ([`Source::map_chunks`]).
struct RecordMaker<'a> {
    plan: &'a ChunkPlan<'a>,
    dec: Decoder,
    raw: Vec<f64>,
    /// Record buffers written out, to reuse.
    spare: &'a std::sync::Mutex<std::sync::mpsc::Receiver<Vec<Part>>>,
}

impl ChunkWorker for RecordMaker<'_> {
    fn run(&mut self, chunk: &Chunk) -> ChunkOut {
        let mut parts = (self.spare.lock().ok())
            .and_then(|r| r.try_recv().ok())
            .unwrap_or_default();
        self.plan
            .decode(&mut self.dec, chunk, &mut parts, &mut self.raw);
        let out = ChunkRecords {
            parts,
            // Counted per chunk: the decoder's counts start again at zero.
            incomplete: std::mem::take(&mut self.dec.incomplete),
            unknown: std::mem::take(&mut self.dec.unknown),
        };
        Box::new(out)
    }
}

/// What the data phase of an export writes to: the file and its position, each list's pending
/// fragment, fragments written and record count, and each list's slave clock.
struct Data<'a> {
    w: &'a mut BufWriter<File>,
    pos: &'a mut u64,
    pending: &'a mut [Vec<u8>],
    fragments: &'a mut [Vec<(u64, u64)>],
    records: &'a mut [u64],
    clocks: &'a mut [Option<SlaveClock>],
}

impl Data<'_> {
    /// Writes `bytes` as one DT block of list `li`.
    fn fragment(&mut self, li: usize, bytes: &[u8]) -> std::io::Result<()> {
        self.fragments[li].push((*self.pos, bytes.len() as u64));
        *self.pos += write_block(self.w, b"##DT", &[], bytes)?;
        Ok(())
    }

    /// Adds a chunk's records of list `li` (each `len` bytes): their times through the slave
    /// clock first where the list has one; then written as a DT block of their own when they
    /// are many, else gathered with the list's pending records.
    fn add(
        &mut self,
        li: usize,
        part: &mut Part,
        len: usize,
        start_ns: u64,
    ) -> std::io::Result<()> {
        if let Some(c) = self.clocks[li].as_mut() {
            for (k, &(ticks, ns)) in part.times.iter().enumerate() {
                let at = ticks.map_or(ns, |t| c.host_ns(t, ns));
                if let Some(slot) = part.bytes.get_mut(k * len..k * len + 8) {
                    slot.copy_from_slice(&seconds_since(at, start_ns).to_le_bytes());
                }
            }
        }
        self.records[li] += part.records;
        if self.pending[li].is_empty() && part.bytes.len() >= FRAGMENT / 4 {
            return self.fragment(li, &part.bytes);
        }
        self.pending[li].extend_from_slice(&part.bytes);
        if self.pending[li].len() >= FRAGMENT {
            let full = std::mem::take(&mut self.pending[li]);
            self.fragment(li, &full)?;
            self.pending[li] = full;
            self.pending[li].clear();
        }
        Ok(())
    }
}

/// How chunks of stand-alone rows become records on the decoding threads.
struct ChunkPlan<'a> {
    start_ns: u64,
    all_raw: &'a [bool],
    stored: &'a [&'a [(Stored, usize)]],
    timed: &'a [bool],
}

impl ChunkPlan<'_> {
    /// Decodes `chunk` into each list's records in `parts` with `dec`.
    fn decode(&self, dec: &mut Decoder, chunk: &Chunk, parts: &mut Vec<Part>, raw: &mut Vec<f64>) {
        parts.resize_with(self.stored.len(), Part::default);
        for p in parts.iter_mut() {
            p.bytes.clear();
            p.times.clear();
            p.records = 0;
        }
        chunk.frames(|ns, frame| {
            let Some((head, in_frame)) = dec.row_in_frame(ns, frame) else {
                return;
            };
            let li = head.list;
            let (Some(part), Some(stored)) = (parts.get_mut(li), self.stored.get(li)) else {
                return;
            };
            if self.timed[li] {
                // Filled in order by the thread that writes.
                part.times.push((head.slave_ticks, ns));
                part.bytes.extend_from_slice(&[0; 8]);
            } else {
                part.bytes
                    .extend_from_slice(&seconds_since(ns, self.start_ns).to_le_bytes());
            }
            record_values(
                &mut part.bytes,
                dec,
                li,
                in_frame.unwrap_or_else(|| dec.row_bytes(li)),
                self.all_raw[li],
                stored,
                raw,
            );
            part.records += 1;
        });
    }

    /// The data phase with stand-alone rows: the source's chunks are decoded into records by
    /// one thread per core (up to four, a decoder each), and their records added to `data` in
    /// the source's order. What the decoders counted as incomplete and unknown.
    fn run(
        &self,
        reader: &mut dyn Source,
        output: &Path,
        data: &mut Data<'_>,
    ) -> Result<(u64, u64), Error> {
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get().clamp(1, 4));
        let (back, spare) = std::sync::mpsc::sync_channel::<Vec<Part>>(4 * workers);
        let spare = std::sync::Mutex::new(spare);
        let makers = (0..workers)
            .map(|_| {
                Ok(Box::new(RecordMaker {
                    plan: self,
                    dec: Decoder::new(reader.meta())?,
                    raw: Vec::new(),
                    spare: &spare,
                }) as Box<dyn ChunkWorker + '_>)
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let lens: Vec<usize> = (self.stored.iter())
            .map(|st| 8 + st.iter().map(|(_, n)| n).sum::<usize>())
            .collect();
        let mut counted = (0, 0);
        reader.map_chunks(makers, &mut |out| {
            let mut out = out
                .downcast::<ChunkRecords>()
                .map_err(|_| Error::Meta("a chunk came back as something else".into()))?;
            for (li, part) in out.parts.iter_mut().enumerate() {
                if part.records > 0 {
                    data.add(li, part, lens[li], self.start_ns)
                        .map_err(|source| Error::Io {
                            path: output.to_owned(),
                            what: "write",
                            source,
                        })?;
                }
            }
            counted.0 += out.incomplete;
            counted.1 += out.unknown;
            // Full only when the decoders stopped taking spares: then dropped.
            let _ = back.try_send(out.parts);
            Ok(true)
        })?;
        Ok(counted)
    }
}

/// Record bytes a list gathers before they go to the file as one DT block.
const FRAGMENT: usize = 1 << 20;

/// Writes a block (header, `links`, `data`, padding to 8 bytes); the bytes it took.
fn write_block(
    w: &mut impl Write,
    id: &[u8; 4],
    links: &[u64],
    data: &[u8],
) -> std::io::Result<u64> {
    let len = 24 + 8 * links.len() as u64 + data.len() as u64;
    w.write_all(id)?;
    w.write_all(&[0; 4])?;
    w.write_all(&len.to_le_bytes())?;
    w.write_all(&(links.len() as u64).to_le_bytes())?;
    for l in links {
        w.write_all(&l.to_le_bytes())?;
    }
    w.write_all(data)?;
    let pad = (8 - len % 8) % 8;
    w.write_all(&[0; 8][..pad as usize])?;
    Ok(len + pad)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Per data group of an MDF4 file: its records (its DT block, or the fragments its DL
    /// block lists, in order) and its CG's record count.
    fn groups(f: &[u8]) -> Vec<(Vec<u8>, u64)> {
        let u64_at = |at: u64| {
            let at = usize::try_from(at).expect("offset");
            u64::from_le_bytes(f[at..at + 8].try_into().expect("8 bytes"))
        };
        let id = |at: u64| &f[usize::try_from(at).expect("offset")..][..4];
        let link = |at: u64, i: u64| u64_at(at + 24 + 8 * i);
        let dt = |at: u64| {
            assert_eq!(id(at), b"##DT");
            let start = usize::try_from(at + 24).expect("offset");
            f[start..start + usize::try_from(u64_at(at + 8) - 24).expect("length")].to_vec()
        };
        let mut out = Vec::new();
        let mut dg = link(64, 0);
        while dg != 0 {
            assert_eq!(id(dg), b"##DG");
            let cg = link(dg, 1);
            let cycles = u64_at(cg + 24 + 6 * 8 + 8);
            let data = link(dg, 2);
            let records = if id(data) == b"##DT" {
                dt(data)
            } else {
                assert_eq!(id(data), b"##DL");
                let links = u64_at(data + 16);
                (1..links).flat_map(|i| dt(link(data, i))).collect()
            };
            out.push((records, cycles));
            dg = link(dg, 0);
        }
        out
    }

    #[test]
    #[allow(clippy::cast_possible_truncation, reason = "test values")]
    fn rows_decoded_in_chunks_make_the_same_records_as_rows_decoded_in_order() {
        let dir = std::env::temp_dir().join(format!("xcp-mdf4-chunks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let signal = |name: &str, ty: &str, conversion: serde_json::Value| {
            serde_json::json!({"name": name, "type": ty, "byte_order": "Intel", "unit": "u",
                "conversion": conversion})
        };
        let identical = serde_json::json!({"kind": "IDENTICAL", "name": "", "unit": ""});
        // A table without interpolation has no MDF form: exported as physical doubles.
        let table = serde_json::json!({"kind": "TAB_NOINTP", "name": "t", "unit": "",
            "table": [[0, 10.5], [1, 20.5], [2, 30.5]], "default": -1.0});
        // Timestamps of 2 bytes that wrap every 65.5 ms, mapped through the clock correlation.
        let meta = serde_json::json!({"slave": "chunk test", "daq": {
        "byte_order": "Intel", "id_field": "AbsoluteOdt", "timestamp_bytes": 2,
        "overload_pid_msb": false, "tick_ns": 1000.0,
        "clock": {"host_ns": 1_000_000, "raw": 0, "tick_ns": 1000.0, "bytes": 2},
        "lists": [
            {"number": 0, "first_pid": 0, "event": 0, "timestamps": true,
             "odts": [[[0, 0, 2], [1, 0, 4]]],
             "signals": [signal("a", "U16", identical.clone()), signal("b", "F32", identical.clone())]},
            {"number": 1, "first_pid": 1, "event": 1, "timestamps": false,
             "odts": [[[0, 0, 1], [1, 0, 4]]],
             "signals": [signal("state", "U8", table), signal("c", "I32", identical)]},
        ]}});
        let rec = dir.join("chunks.xcprec");
        let mut w =
            crate::Recorder::create(&rec, &meta, crate::WriterOptions::default()).expect("create");
        let rows = 150_000u64;
        for i in 0..rows {
            let ns = 1_000_000 + i * 10_000;
            let ticks = ((i * 9) % 65_536) as u16;
            let mut f = vec![0u8];
            f.extend_from_slice(&ticks.to_le_bytes());
            f.extend_from_slice(&(i as u16).to_le_bytes());
            f.extend_from_slice(&(i as f32 * 0.25).to_le_bytes());
            w.push(ns, &f);
            if i % 4 == 0 {
                let mut g = vec![1u8, (i % 4) as u8];
                g.extend_from_slice(&(-(i as i32)).to_le_bytes());
                w.push(ns + 5, &g);
            }
            if i % 5000 == 3 {
                // Of no list; too short for its list.
                w.push(ns + 6, &[7, 0]);
                w.push(ns + 7, &[0, 1]);
            }
        }
        w.close().expect("close");
        let (a, b) = (dir.join("in-chunks.mf4"), dir.join("in-order.mf4"));
        let chunked = export_in(&mut Reader::open(&rec).expect("open"), &a, true).expect("chunks");
        let ordered = export_in(&mut Reader::open(&rec).expect("open"), &b, false).expect("order");
        assert_eq!(chunked, ordered);
        assert_eq!(chunked.records, rows + rows / 4);
        let (ga, gb) = (
            groups(&std::fs::read(&a).expect("chunked MDF4")),
            groups(&std::fs::read(&b).expect("ordered MDF4")),
        );
        assert_eq!(ga.len(), 2);
        for (k, ((ra, na), (rb, nb))) in ga.iter().zip(&gb).enumerate() {
            assert_eq!(na, nb, "group {k}");
            assert!(ra == rb && !ra.is_empty(), "group {k}: the records differ");
        }
        assert_eq!(ga[0].1, rows);
        // The last row's time on the slave clock (9 µs a row, where the host saw 10), through
        // 20 wraps of its 2-byte ticks.
        let last = &ga[0].0[ga[0].0.len() - 14..];
        let t = f64::from_le_bytes(last[..8].try_into().expect("time"));
        assert!((t - (rows - 1) as f64 * 9e-6).abs() < 1e-9, "{t}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
