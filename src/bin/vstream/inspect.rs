//! `vstream inspect FILE`: the segment plan of a file, as a table or as JSON.

use anyhow::{Context, Result};
use serde::Serialize;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use vstream::media::plan::{PlanOptions, SegmentContent, SegmentPlan};
use vstream::media::probe::plan_file;
use vstream::media::{FileFormat, MediaInfo, SegmentMode};

/// Arguments of `vstream inspect`.
#[derive(clap::Args, Debug)]
pub(crate) struct InspectArgs {
    /// The file to inspect.
    file: PathBuf,
    /// Segment mode: frame, gop, time, fixed or auto.
    #[arg(long, default_value = "auto", value_parser = parse_mode)]
    mode: SegmentMode,
    /// Bandwidth estimate in bits per second, for the auto rule (unknown if absent).
    #[arg(long)]
    bandwidth: Option<u64>,
    /// Target duration of a time-mode segment, in seconds.
    #[arg(long, default_value_t = 1.0)]
    time_segment: f64,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

fn parse_mode(s: &str) -> Result<SegmentMode, String> {
    SegmentMode::from_name(s).ok_or_else(|| {
        format!("unknown segment mode {s:?} (expected frame, gop, time, auto or fixed)")
    })
}

#[derive(Serialize)]
struct Report {
    file: String,
    format: String,
    file_size: u64,
    mode: SegmentMode,
    segment_size: Option<u64>,
    frames: Option<u64>,
    keyframe_indices: Option<Vec<u64>>,
    width: Option<u32>,
    height: Option<u32>,
    frame_rate: Option<f64>,
    duration: Option<f64>,
    profile: Option<String>,
    level: Option<String>,
    bit_rate: Option<u64>,
    segments: Vec<SegmentRow>,
}

#[derive(Serialize)]
struct SegmentRow {
    index: u32,
    offset: u64,
    size: u64,
    timestamp: f64,
    duration: f64,
    frame_count: u32,
    flags: u8,
    #[serde(skip)]
    flag_names: String,
    frame_type: Option<&'static str>,
}

/// Runs `vstream inspect`.
pub(crate) fn run(args: &InspectArgs) -> Result<()> {
    let path = &args.file;
    let opts = PlanOptions {
        bandwidth_bps: args.bandwidth,
        time_segment_secs: args.time_segment,
        ..PlanOptions::default()
    };
    if path.is_dir() {
        anyhow::bail!("{} is a directory, not a file", path.display());
    }
    let (format, plan, info) = plan_file(path, args.mode, opts).map_err(|e| {
        let code = e.status_code();
        anyhow::Error::new(e).context(format!(
            "cannot segment {} in {} mode (status {code})",
            path.display(),
            args.mode
        ))
    })?;
    let report = build_report(path, &format, &plan, info);
    let out = io::stdout().lock();
    let written = if args.json {
        write_json(out, &report)
    } else {
        write_table(out, &report, args.mode)
    };
    match written {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to stdout"),
    }
}

fn build_report(path: &Path, format: &FileFormat, plan: &SegmentPlan, info: MediaInfo) -> Report {
    let info = plan.h264_info().map(|h| h.to_media_info()).unwrap_or(info);
    let segments = plan
        .iter()
        .map(|s| SegmentRow {
            index: s.index,
            offset: s.offset,
            size: s.len,
            timestamp: s.timestamp,
            duration: s.duration,
            frame_count: s.frame_count,
            flags: s.flags.bits(),
            flag_names: s.flags.to_string(),
            frame_type: match s.content {
                SegmentContent::AacFrame { .. } => Some("audio"),
                _ => s.frame_type.map(|t| t.name()),
            },
        })
        .collect();
    Report {
        file: path.display().to_string(),
        format: format.name().to_string(),
        file_size: plan.file_size(),
        mode: plan.applied_mode(),
        segment_size: plan.segment_size(),
        frames: plan.frame_count(),
        keyframe_indices: plan.frame_count().map(|_| plan.keyframe_indices().to_vec()),
        width: info.width,
        height: info.height,
        frame_rate: plan.frame_rate().or(info.frame_rate),
        duration: plan.duration().or(info.duration),
        profile: info.profile,
        level: info.level,
        bit_rate: info.bit_rate,
        segments,
    }
}

fn write_json(mut out: impl Write, report: &Report) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut out, report)?;
    writeln!(out)
}

fn write_table(mut out: impl Write, r: &Report, requested: SegmentMode) -> io::Result<()> {
    writeln!(
        out,
        "file:     {} ({}, {} bytes)",
        r.file, r.format, r.file_size
    )?;
    if let (Some(w), Some(h)) = (r.width, r.height) {
        let profile = r.profile.as_deref().unwrap_or("?");
        let level = r.level.as_deref().unwrap_or("?");
        writeln!(out, "video:    {w}x{h}, {profile} @ level {level}")?;
    }
    if let Some(frames) = r.frames {
        let fps = r.frame_rate.unwrap_or(0.0);
        writeln!(out, "frames:   {frames} at {fps} fps")?;
    }
    if let Some(keys) = &r.keyframe_indices {
        writeln!(out, "IDRs:     {keys:?}")?;
    }
    match r.duration {
        Some(d) => writeln!(out, "duration: {d:.3} s")?,
        None => writeln!(out, "duration: none (no time axis)")?,
    }
    let size = r
        .segment_size
        .map(|s| format!(", {s} bytes each"))
        .unwrap_or_default();
    writeln!(out, "mode:     {} (requested {requested}){size}", r.mode)?;
    writeln!(out)?;
    writeln!(
        out,
        "{:>6} {:>12} {:>9} {:>10} {:>9} {:>6}  {:<19} type",
        "index", "offset", "size", "timestamp", "duration", "frames", "flags"
    )?;
    for s in &r.segments {
        writeln!(
            out,
            "{:>6} {:>12} {:>9} {:>10.3} {:>9.3} {:>6}  {:<19} {}",
            s.index,
            s.offset,
            s.size,
            s.timestamp,
            s.duration,
            s.frame_count,
            s.flag_names,
            s.frame_type.unwrap_or("-")
        )?;
    }
    let total: u64 = r.segments.iter().map(|s| s.size).sum();
    let largest = r.segments.iter().map(|s| s.size).max().unwrap_or(0);
    let keys = r.segments.iter().filter(|s| s.flags & 0x01 != 0).count();
    writeln!(out)?;
    writeln!(
        out,
        "summary:  {} segments, {total} bytes, largest {largest} bytes, {keys} keyframe segments",
        r.segments.len()
    )
}
