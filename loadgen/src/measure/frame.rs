//! A run record as one line of a log, so that the shards of a run on
//! Kubernetes need no shared volume: each prints its record, framed, on
//! standard output, and `kubectl logs -l job-name=... | loadgen merge -`
//! collects them.
//!
//! The line is `STACKBENCH-RECORD v1 I/N SHA256 PAYLOAD`: the shard, the
//! SHA-256 of the record's JSON, and that JSON deflated and in base64.
//! Whatever a log collector puts before the marker (a pod name, a time
//! stamp) is skipped; a line cut short or altered fails its checksum and is
//! refused, never merged.

use std::io::{Read, Write};

use base64::Engine;
use sha2::Digest;

use super::record::{self, RunRecord};

/// What begins a framed record.
pub const MARK: &str = "STACKBENCH-RECORD";
/// The frame's version: another version is refused, not misread.
const VERSION: &str = "v1";

/// The record as one line (no newline).
pub fn frame(record: &RunRecord) -> String {
    let json = serde_json::to_vec(record).expect("a record serializes");
    let mut deflate =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    deflate.write_all(&json).expect("writing to memory");
    let payload = deflate.finish().expect("writing to memory");
    let shard = record
        .config
        .shard
        .as_ref()
        .map_or_else(|| "-".to_string(), |plan| plan.shard.to_string());
    format!(
        "{MARK} {VERSION} {shard} {:x} {}",
        sha2::Sha256::digest(&json),
        base64::engine::general_purpose::STANDARD.encode(payload)
    )
}

/// Every framed record in `text`, each with its line number (from 1), or
/// why that line's record cannot be read.
pub fn unframe(text: &str) -> Vec<(usize, Result<RunRecord, String>)> {
    text.lines()
        .enumerate()
        .filter_map(|(i, line)| line.find(MARK).map(|at| (i + 1, read(&line[at..]))))
        .collect()
}

fn read(line: &str) -> Result<RunRecord, String> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [_, version, _shard, checksum, payload] = fields[..] else {
        return Err(format!(
            "a {MARK} line has 5 fields, this one {}: it was cut or joined",
            fields.len()
        ));
    };
    if version != VERSION {
        return Err(format!(
            "a {MARK} line of version {version}; this loadgen reads {VERSION}"
        ));
    }
    let deflated = base64::engine::general_purpose::STANDARD
        .decode(payload)
        .map_err(|e| format!("its payload is not base64 ({e}): the line was cut or altered"))?;
    let mut json = Vec::new();
    flate2::read::DeflateDecoder::new(deflated.as_slice())
        .read_to_end(&mut json)
        .map_err(|e| format!("its payload does not inflate ({e}): the line was cut or altered"))?;
    if format!("{:x}", sha2::Sha256::digest(&json)) != checksum {
        return Err("its checksum does not match its payload: the line was altered".into());
    }
    record::from_json(&json, &[record::SCHEMA], "a loadgen run record")
}
