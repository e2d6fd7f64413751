//! `xcpkit record` of several slaves into one recording: which `--a2l` and `-s` belong to
//! which `-t`, profiles of several slaves, and the recording itself (a thread per slave that
//! takes its rows, reads its clock every second and notes when it drops out).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use xcpkit::{MeasureOptions, RecordGroup, Session, SlaveRecording};

use crate::record::RecordArgs;
use crate::session::Conn;

/// How often each slave's clock is read while recording.
const CLOCK_EVERY: Duration = Duration::from_secs(1);

/// One slave to record.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// Its label.
    pub(crate) label: String,
    /// Whether the label was given (`LABEL=URL`) or comes from a profile.
    named: bool,
    /// A URL or a profile's name.
    pub(crate) url: String,
    /// Its A2L file.
    pub(crate) a2l: Option<PathBuf>,
    /// Its signals.
    pub(crate) signals: Vec<String>,
    /// The profile group it came from (`None`: not from a group).
    group: Option<usize>,
    /// Signals of that group that named no slave, to be placed by the A2Ls once connected
    /// (kept on the group's first slave).
    by_a2l: Vec<String>,
    /// Whether several slaves are recorded (or one from a profile of several).
    pub(crate) grouped: bool,
}

impl Target {
    /// The connection options of this slave.
    pub(crate) fn conn(&self, args: &RecordArgs) -> Conn {
        Conn {
            url: self.url.clone(),
            timeout_ms: args.timeout_ms,
            module: args.module.clone(),
        }
    }
}

fn bad(name: &str, reason: String) -> anyhow::Error {
    xcpkit::Error::Value {
        name: name.to_owned(),
        reason,
    }
    .into()
}

/// `LABEL=URL` split, when the part before `=` is a label.
fn split_label(t: &str) -> (Option<&str>, &str) {
    match t.split_once('=') {
        Some((l, rest)) if xcp_recorder::multi::label_ok(l) => (Some(l), rest),
        _ => (None, t),
    }
}

/// The slaves of the command line, each with its A2L and signals. Signals still to be placed
/// by the A2Ls (after a profile of several) come back in the group's `pending` list.
pub(crate) fn targets(
    args: &RecordArgs,
    matches: Option<&clap::ArgMatches>,
) -> anyhow::Result<Vec<Target>> {
    // Every -t, --a2l and -s in command-line order.
    let mut items: Vec<(usize, char, String)> = Vec::new();
    let mut add = |id: &str, kind: char, values: Vec<String>| {
        let at: Vec<usize> = matches
            .and_then(|m| m.indices_of(id))
            .map(Iterator::collect)
            .unwrap_or_default();
        for (k, v) in values.into_iter().enumerate() {
            items.push((at.get(k).copied().unwrap_or(0), kind, v));
        }
    };
    add("targets", 't', args.targets.clone());
    add(
        "a2l",
        'a',
        args.a2l.iter().map(|p| p.display().to_string()).collect(),
    );
    add("signals", 's', args.signals.clone());
    items.sort_by_key(|(i, _, _)| *i);
    let one = args.targets.len() == 1;
    let mut raw: Vec<Target> = Vec::new();
    let mut loose: Vec<String> = Vec::new();
    for (_, kind, v) in items {
        match kind {
            't' => {
                let (label, url) = split_label(&v);
                raw.push(Target {
                    label: label.unwrap_or("").to_owned(),
                    named: label.is_some(),
                    url: url.to_owned(),
                    a2l: None,
                    signals: Vec::new(),
                    group: None,
                    by_a2l: Vec::new(),
                    grouped: false,
                });
            }
            'a' => {
                // With one slave, an --a2l anywhere is its.
                let t = if one { raw.first_mut() } else { raw.last_mut() };
                let Some(t) = t else {
                    return Err(bad(
                        "--a2l",
                        format!("{v} comes before any -t: give each slave's --a2l after its -t"),
                    ));
                };
                if t.a2l.is_some() {
                    return Err(bad(
                        "--a2l",
                        format!("two A2L files for {}: one per -t", t.url),
                    ));
                }
                t.a2l = Some(PathBuf::from(v));
            }
            _ => match (one, raw.last_mut()) {
                (false, Some(t)) => t.signals.push(v),
                _ => loose.push(v),
            },
        }
    }
    if one && let Some(t) = raw.first_mut() {
        t.signals.append(&mut loose);
    }
    // Profiles of several slaves become one target each, labelled by its profile.
    let mut out: Vec<Target> = Vec::new();
    let mut group_signals: Vec<Vec<String>> = Vec::new();
    let several = raw.len() > 1;
    for t in raw {
        let members = if t.url.contains("://") {
            Vec::new()
        } else {
            crate::profile::find(&t.url)?.slaves
        };
        if members.is_empty() {
            let label = if t.named {
                t.label.clone()
            } else if !t.url.contains("://") && xcp_recorder::multi::label_ok(&t.url) {
                t.url.clone()
            } else {
                format!("slave{}", out.len() + 1)
            };
            out.push(Target {
                label,
                grouped: several,
                ..t
            });
            continue;
        }
        if t.a2l.is_some() {
            return Err(bad(
                "--a2l",
                format!(
                    "{} lists several slaves; their A2L files come from their profiles",
                    t.url
                ),
            ));
        }
        let g = group_signals.len();
        group_signals.push(t.signals);
        for m in members {
            out.push(Target {
                label: m.clone(),
                named: true,
                url: m,
                a2l: None,
                signals: Vec::new(),
                group: Some(g),
                by_a2l: Vec::new(),
                grouped: true,
            });
        }
    }
    if out.len() > xcp_recorder::multi::MAX_SLAVES {
        return Err(bad(
            "-t",
            format!(
                "{} slaves; one recording holds up to {}",
                out.len(),
                xcp_recorder::multi::MAX_SLAVES
            ),
        ));
    }
    for (i, t) in out.iter().enumerate() {
        if !xcp_recorder::multi::label_ok(&t.label) {
            return Err(bad(
                &t.label,
                "a slave's label is 1 to 32 letters, digits, `_` or `-`".into(),
            ));
        }
        if out[..i].iter().any(|o| o.label == t.label) {
            return Err(bad(
                &t.label,
                "two slaves have this label: label them `-t NAME=URL`".into(),
            ));
        }
    }
    // `LABEL.NAME` goes to its slave wherever it stands (with several slaves).
    let labels: Vec<String> = out.iter().map(|t| t.label.clone()).collect();
    let owner_of = |name: &str| -> Option<(usize, String)> {
        let (l, rest) = name.split_once('.')?;
        let i = labels.iter().position(|x| x == l)?;
        (labels.len() > 1).then(|| (i, rest.to_owned()))
    };
    for i in 0..out.len() {
        for name in std::mem::take(&mut out[i].signals) {
            match owner_of(&name) {
                Some((k, rest)) => out[k].signals.push(rest),
                None => out[i].signals.push(name),
            }
        }
    }
    for name in loose {
        let Some((k, rest)) = owner_of(&name) else {
            return Err(bad(
                &name,
                "comes before any -t: give each slave's -s after its -t, or write LABEL.NAME"
                    .into(),
            ));
        };
        out[k].signals.push(rest);
    }
    // A profile group's other names are placed by the A2Ls once connected.
    for (g, names) in group_signals.into_iter().enumerate() {
        for name in names {
            match owner_of(&name) {
                Some((k, rest)) => out[k].signals.push(rest),
                None => {
                    if let Some(t) = out.iter_mut().find(|t| t.group == Some(g)) {
                        t.by_a2l.push(name);
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Places each signal of a profile group that named no slave on the one slave of the group
/// whose A2L has it.
fn place_by_a2l(targets: &mut [Target], sessions: &[Session]) -> anyhow::Result<()> {
    let mut unplaced: Vec<(Option<usize>, String)> = Vec::new();
    for t in targets.iter_mut() {
        unplaced.extend(
            std::mem::take(&mut t.by_a2l)
                .into_iter()
                .map(|s| (t.group, s)),
        );
    }
    for (group, name) in unplaced {
        let has: Vec<usize> = (0..targets.len())
            .filter(|&i| targets[i].group == group)
            .filter(|&i| sessions[i].a2l().is_some_and(|a| a.object(&name).is_ok()))
            .collect();
        match has[..] {
            [i] => targets[i].signals.push(name),
            [] => {
                return Err(bad(&name, "is in none of the slaves' A2L files".into()));
            }
            _ => {
                let l: Vec<String> = has
                    .iter()
                    .map(|&i| format!("{}.{name}", targets[i].label))
                    .collect();
                return Err(bad(
                    &name,
                    format!("is in more than one slave's A2L: write {}", l.join(" or ")),
                ));
            }
        }
    }
    Ok(())
}

/// What one slave's thread saw.
struct Outcome {
    label: String,
    clocked: bool,
    rows: u64,
    clock_readings: u64,
    dropped: Option<String>,
    finish_error: Option<String>,
}

/// Drives one slave while the recording runs: takes its rows, reads its clock every second,
/// notes when it stops answering; at the end stops it and reads the clock once more.
fn drive(
    rec: &mut SlaveRecording,
    session: &mut Session,
    stop: &AtomicBool,
    rows: &AtomicU64,
) -> Outcome {
    let mut out = Outcome {
        label: rec.label().to_owned(),
        clocked: rec.clocked(),
        rows: 0,
        clock_readings: 1,
        dropped: None,
        finish_error: None,
    };
    let mut next_clock = Instant::now() + CLOCK_EVERY;
    while !stop.load(Ordering::Relaxed) {
        match rec.measurement().recv(Duration::from_millis(50)) {
            Ok(Some(batch)) => {
                out.rows += batch.len() as u64;
                rows.fetch_add(batch.len() as u64, Ordering::Relaxed);
            }
            Ok(None) => {}
            Err(e) => {
                out.dropped = Some(e.to_string());
                break;
            }
        }
        if Instant::now() >= next_clock {
            next_clock += CLOCK_EVERY;
            match rec.read_clock(session) {
                Ok(()) => out.clock_readings += 1,
                Err(e) => {
                    out.dropped = Some(format!("GET_DAQ_CLOCK: {e}"));
                    break;
                }
            }
        }
    }
    if let Some(why) = &out.dropped {
        rec.drop_out(session, why);
    } else {
        match rec.finish(session) {
            Ok(()) => out.clock_readings += 1,
            Err(e) => out.finish_error = Some(e.to_string()),
        }
    }
    out
}

/// Records every target into one file until the duration is over or Ctrl-C; a slave that
/// drops out ends its part, the others go on.
pub(crate) fn record(args: &RecordArgs, mut targets: Vec<Target>) -> anyhow::Result<()> {
    let mut sessions: Vec<Session> = Vec::new();
    let mut opened = Ok(());
    for t in &targets {
        match open(args, t) {
            Ok(s) => sessions.push(s),
            Err(e) => {
                opened = Err(e);
                break;
            }
        }
    }
    let result = opened.and_then(|()| run(args, &mut targets, &mut sessions));
    // Every slave still answering is left disconnected, whatever happened (a slave keeps a
    // master that left without DISCONNECT and refuses the next one for a while).
    let dropped = result.as_ref().map_or_else(|_| Vec::new(), Clone::clone);
    for (i, s) in sessions.into_iter().enumerate() {
        if !dropped.contains(&i) {
            let _ = s.close();
        }
    }
    let dropped = result?;
    if dropped.len() == targets.len() {
        // Nothing answered to the end: say so in the exit code (3), the file is complete.
        return Err(xcpkit::Error::Master(xcp_master::Error::Closed {
            reason: format!(
                "every slave dropped out; {} holds what they sent before",
                args.output.display()
            ),
        })
        .into());
    }
    Ok(())
}

/// Opens the session of `t`, its A2L fetched from the slave when it has none.
fn open(args: &RecordArgs, t: &Target) -> anyhow::Result<Session> {
    let mut s = t
        .conn(args)
        .open(t.a2l.clone())
        .map_err(|e| e.context(format!("slave {}", t.label)))?;
    if s.a2l().is_none()
        && let Err(e) = s.load_a2l_from_slave()
    {
        let _ = s.close();
        return Err(anyhow::Error::from(e).context(format!("slave {}", t.label)));
    }
    Ok(s)
}

/// The recording of the opened `sessions`; the indices of the slaves that dropped out.
#[allow(clippy::cast_precision_loss, reason = "rates for the live line")]
fn run(
    args: &RecordArgs,
    targets: &mut [Target],
    sessions: &mut [Session],
) -> anyhow::Result<Vec<usize>> {
    place_by_a2l(targets, sessions)?;
    let options = MeasureOptions {
        event: args.event,
        ..MeasureOptions::default()
    };
    let mut parts = Vec::new();
    for (t, s) in targets.iter().zip(sessions.iter_mut()) {
        if t.signals.is_empty() {
            return Err(bad(
                &t.label,
                "has no signals: give them with -s after its -t (or LABEL.NAME)".into(),
            ));
        }
        let names: Vec<&str> = t.signals.iter().map(String::as_str).collect();
        let part = s
            .record_part(&t.label, &names, options)
            .map_err(|e| anyhow::Error::from(e).context(format!("slave {}", t.label)))?;
        parts.push(part);
    }
    let stop = crate::record::stop_flag()?;
    let writer = crate::record::writer_options(args);
    let (group, mut recs) = RecordGroup::start(
        &args.output,
        sessions.iter_mut().zip(parts).collect(),
        writer,
    )?;
    eprintln!(
        "recording {} slaves ({}) to {}{}",
        targets.len(),
        targets
            .iter()
            .map(|t| format!("{} {} signal(s)", t.label, t.signals.len()))
            .collect::<Vec<_>>()
            .join(", "),
        args.output.display(),
        args.duration
            .map_or_else(|| " until Ctrl-C".to_owned(), |d| format!(" for {d} s"))
    );
    let t0 = Instant::now();
    let limit = args.duration.map(|d| Duration::from_secs_f64(d.max(0.0)));
    let done = AtomicBool::new(false);
    let rows = AtomicU64::new(0);
    let outcomes: Vec<Outcome> = std::thread::scope(|scope| {
        let handles: Vec<_> = recs
            .iter_mut()
            .zip(sessions.iter_mut())
            .map(|(rec, s)| {
                let (done, rows) = (&done, &rows);
                scope.spawn(move || drive(rec, s, done, rows))
            })
            .collect();
        let mut live = crate::live::Live::new();
        // Until the duration is over, Ctrl-C, or every slave has dropped out.
        while !stop.load(Ordering::Relaxed)
            && limit.is_none_or(|l| t0.elapsed() < l)
            && !handles
                .iter()
                .all(std::thread::ScopedJoinHandle::is_finished)
        {
            std::thread::park_timeout(Duration::from_millis(100));
            let n = rows.load(Ordering::Relaxed);
            live.show(&format!(
                "  {:6.1} s  {n} rows ({:.0}/s)  {} dropped by the writer",
                t0.elapsed().as_secs_f64(),
                n as f64 / t0.elapsed().as_secs_f64().max(1e-3),
                group.dropped()
            ));
        }
        live.finish();
        done.store(true, Ordering::Relaxed);
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| Outcome {
                    label: "?".into(),
                    clocked: false,
                    rows: 0,
                    clock_readings: 0,
                    dropped: Some("its thread panicked".into()),
                    finish_error: None,
                })
            })
            .collect()
    });
    let summary = group.close()?;
    for o in &outcomes {
        match (&o.dropped, &o.finish_error) {
            (Some(why), _) => eprintln!(
                "warning: slave {} dropped out after {} rows: {why}; its part ends there, the others went on",
                o.label, o.rows
            ),
            (None, Some(e)) => eprintln!("warning: slave {} did not stop cleanly: {e}", o.label),
            (None, None) => {}
        }
        let clock = if o.clocked {
            format!("{} clock readings", o.clock_readings)
        } else {
            "no slave clock (rows timed by their arrival)".to_owned()
        };
        let dropped = if o.dropped.is_some() {
            ", dropped out"
        } else {
            ""
        };
        out!("  {:<12} {} rows, {clock}{dropped}", o.label, o.rows);
    }
    let what = format!("{} slaves, ", outcomes.len());
    crate::record::written(&what, &summary, &args.output)?;
    Ok(outcomes
        .iter()
        .enumerate()
        .filter(|(_, o)| o.dropped.is_some())
        .map(|(i, _)| i)
        .collect())
}
