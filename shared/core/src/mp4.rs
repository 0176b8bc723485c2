//! The running time of an MP4 read from its own boxes, without a decoder: the end-clip
//! upload is checked with it on every backend (AWS has no ffprobe in Lambda, and an end
//! clip is appended to every video and billed as MediaConvert minutes).
//!
//! The duration is the longest of what the file says anywhere: the movie header
//! (`moov/mvhd`, version 0 or the 64-bit version 1), every track header
//! (`trak/tkhd`, in the movie's timescale), every media header (`trak/mdia/mdhd`) and
//! every track's sample table (`stts`: the sum of its sample deltas, the time a decoder
//! actually plays). So a file whose movie header claims 5 s while its samples run for an
//! hour is measured at an hour. Fragmented MP4 (`moof` boxes, `mvex`) is refused: its
//! length is spread over fragments after the header.
//!
//! Parsing is bounded: every size is checked against what is left before it is used,
//! arithmetic is checked, nesting is at most [`MAX_DEPTH`] and at most [`MAX_BOXES`]
//! boxes are visited, so any input ends quickly with a value or an error (fuzzed by
//! `fuzz_targets/mp4_duration`).

use std::fmt;

/// Boxes nested deeper than this are not entered.
pub const MAX_DEPTH: usize = 8;
/// Boxes visited at most, over the whole file.
pub const MAX_BOXES: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mp4Error {
    /// Not an MP4 the checker can measure; the text is for the customer.
    Unreadable(&'static str),
}

impl fmt::Display for Mp4Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mp4Error::Unreadable(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for Mp4Error {}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let bytes = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    let bytes = b.get(at..at.checked_add(8)?)?;
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

/// One box: its type and its payload (after the header).
struct Mp4Box<'a> {
    kind: [u8; 4],
    payload: &'a [u8],
}

/// The boxes directly inside `data`, in order; `Err` for a size that does not fit.
fn boxes<'a>(data: &'a [u8], budget: &mut usize) -> Result<Vec<Mp4Box<'a>>, Mp4Error> {
    let bad = Mp4Error::Unreadable("the end clip is not a well-formed MP4 (a box size is wrong)");
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < data.len() {
        if *budget == 0 {
            return Err(Mp4Error::Unreadable("the end clip has too many MP4 boxes"));
        }
        *budget -= 1;
        let size32 = u32_at(data, at).ok_or(bad.clone())?;
        let kind: [u8; 4] = data
            .get(at + 4..at + 8)
            .and_then(|k| k.try_into().ok())
            .ok_or(bad.clone())?;
        let (header, size) = match size32 {
            // The box runs to the end of its parent.
            0 => (8usize, data.len() - at),
            // A 64-bit size follows the type.
            1 => {
                let large = u64_at(data, at + 8).ok_or(bad.clone())?;
                let large = usize::try_from(large).map_err(|_| bad.clone())?;
                (16usize, large)
            }
            n => (8usize, n as usize),
        };
        if size < header {
            return Err(bad);
        }
        let end = at.checked_add(size).ok_or(bad.clone())?;
        let payload = data.get(at + header..end).ok_or(bad.clone())?;
        out.push(Mp4Box { kind, payload });
        at = end;
    }
    Ok(out)
}

fn find<'a, 'b>(list: &'b [Mp4Box<'a>], kind: &[u8; 4]) -> impl Iterator<Item = &'b Mp4Box<'a>> {
    let kind = *kind;
    list.iter().filter(move |b| b.kind == kind)
}

/// (timescale, duration) of a full box laid out like `mvhd` and `mdhd`: version and
/// flags, creation and modification times (32 or 64 bits), timescale, duration.
fn header_duration(payload: &[u8]) -> Option<(u32, u64)> {
    match payload.first()? {
        0 => Some((u32_at(payload, 12)?, u64::from(u32_at(payload, 16)?))),
        1 => Some((u32_at(payload, 20)?, u64_at(payload, 24)?)),
        _ => None,
    }
}

/// `tkhd` duration (movie timescale): after version/flags, times, track id and a
/// reserved word.
fn track_header_duration(payload: &[u8]) -> Option<u64> {
    match payload.first()? {
        0 => Some(u64::from(u32_at(payload, 20)?)),
        1 => u64_at(payload, 28),
        _ => None,
    }
}

/// The sum of an `stts` table's sample deltas (media timescale).
fn sample_table_duration(payload: &[u8]) -> Option<u64> {
    let entries = u32_at(payload, 4)? as usize;
    // Each entry is 8 bytes: a count that does not fit is a lie, not a loop bound.
    if entries > payload.len().saturating_sub(8) / 8 {
        return None;
    }
    let mut total: u64 = 0;
    for i in 0..entries {
        let count = u64::from(u32_at(payload, 8 + i * 8)?);
        let delta = u64::from(u32_at(payload, 12 + i * 8)?);
        total = total.checked_add(count.checked_mul(delta)?)?;
    }
    Some(total)
}

/// Milliseconds of `units` at `timescale` units per second, rounded up; `None` for a
/// zero timescale or the "unknown" all-ones duration.
fn to_ms(units: u64, timescale: u32, all_ones: u64) -> Option<u64> {
    if timescale == 0 || units == all_ones {
        return None;
    }
    let ms = u128::from(units) * 1000;
    let ts = u128::from(timescale);
    u64::try_from(ms.div_ceil(ts)).ok()
}

/// The MP4's running time in milliseconds, as the longest duration any of its headers
/// or sample tables gives (see the module documentation).
pub fn duration_ms(data: &[u8]) -> Result<u64, Mp4Error> {
    let mut budget = MAX_BOXES;
    let top = boxes(data, &mut budget)?;
    if find(&top, b"ftyp").next().is_none() {
        return Err(Mp4Error::Unreadable("the end clip must be an MP4 video"));
    }
    if find(&top, b"moof").next().is_some() {
        return Err(Mp4Error::Unreadable(
            "the end clip must not be a fragmented MP4 (write it with the moov box up front, e.g. ffmpeg -movflags +faststart)",
        ));
    }
    let mut moovs = find(&top, b"moov");
    let moov = moovs.next().ok_or(Mp4Error::Unreadable(
        "the end clip has no movie header (moov)",
    ))?;
    if moovs.next().is_some() {
        return Err(Mp4Error::Unreadable("the end clip has two movie headers"));
    }
    let inside = boxes(moov.payload, &mut budget)?;
    if find(&inside, b"mvex").next().is_some() {
        return Err(Mp4Error::Unreadable(
            "the end clip must not be a fragmented MP4 (write it with the moov box up front, e.g. ffmpeg -movflags +faststart)",
        ));
    }
    let unknown = Mp4Error::Unreadable("the end clip's movie header has no usable duration");
    let mvhd = find(&inside, b"mvhd").next().ok_or(unknown.clone())?;
    let (movie_scale, movie_units) = header_duration(mvhd.payload).ok_or(unknown.clone())?;
    let movie_all_ones = if mvhd.payload.first() == Some(&1) {
        u64::MAX
    } else {
        u64::from(u32::MAX)
    };
    let mut longest = to_ms(movie_units, movie_scale, movie_all_ones).ok_or(unknown.clone())?;
    let mut tracks = 0;
    for trak in find(&inside, b"trak") {
        tracks += 1;
        let parts = boxes(trak.payload, &mut budget)?;
        for tkhd in find(&parts, b"tkhd") {
            let all_ones = if tkhd.payload.first() == Some(&1) {
                u64::MAX
            } else {
                u64::from(u32::MAX)
            };
            if let Some(ms) = track_header_duration(tkhd.payload)
                .and_then(|units| to_ms(units, movie_scale, all_ones))
            {
                longest = longest.max(ms);
            }
        }
        for mdia in find(&parts, b"mdia") {
            let media = boxes(mdia.payload, &mut budget)?;
            let Some(mdhd) = find(&media, b"mdhd").next() else {
                return Err(Mp4Error::Unreadable(
                    "a track of the end clip has no media header",
                ));
            };
            let (scale, units) = header_duration(mdhd.payload).ok_or(unknown.clone())?;
            let all_ones = if mdhd.payload.first() == Some(&1) {
                u64::MAX
            } else {
                u64::from(u32::MAX)
            };
            if let Some(ms) = to_ms(units, scale, all_ones) {
                longest = longest.max(ms);
            }
            // mdia/minf/stbl/stts: the time the samples play.
            for minf in find(&media, b"minf") {
                let info = boxes(minf.payload, &mut budget)?;
                for stbl in find(&info, b"stbl") {
                    let table = boxes(stbl.payload, &mut budget)?;
                    for stts in find(&table, b"stts") {
                        let units = sample_table_duration(stts.payload).ok_or(
                            Mp4Error::Unreadable("the end clip's sample table is not well-formed"),
                        )?;
                        let ms = to_ms(units, scale, u64::MAX).ok_or(unknown.clone())?;
                        longest = longest.max(ms);
                    }
                }
            }
        }
    }
    if tracks == 0 {
        return Err(Mp4Error::Unreadable("the end clip has no tracks"));
    }
    Ok(longest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mp4_box(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut out = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(payload);
        out
    }

    fn mvhd_v0(timescale: u32, duration: u32) -> Vec<u8> {
        let mut p = vec![0u8; 4 + 8];
        p.extend_from_slice(&timescale.to_be_bytes());
        p.extend_from_slice(&duration.to_be_bytes());
        p.extend_from_slice(&[0u8; 80]);
        mp4_box(b"mvhd", &p)
    }

    fn mvhd_v1(timescale: u32, duration: u64) -> Vec<u8> {
        let mut p = vec![1u8, 0, 0, 0];
        p.extend_from_slice(&[0u8; 16]);
        p.extend_from_slice(&timescale.to_be_bytes());
        p.extend_from_slice(&duration.to_be_bytes());
        p.extend_from_slice(&[0u8; 80]);
        mp4_box(b"mvhd", &p)
    }

    fn trak(mdhd_scale: u32, mdhd_units: u32, stts: &[(u32, u32)]) -> Vec<u8> {
        let mut mdhd = vec![0u8; 12];
        mdhd.extend_from_slice(&mdhd_scale.to_be_bytes());
        mdhd.extend_from_slice(&mdhd_units.to_be_bytes());
        mdhd.extend_from_slice(&[0u8; 4]);
        let mut table = vec![0u8; 4];
        table.extend_from_slice(&(stts.len() as u32).to_be_bytes());
        for (count, delta) in stts {
            table.extend_from_slice(&count.to_be_bytes());
            table.extend_from_slice(&delta.to_be_bytes());
        }
        let stbl = mp4_box(b"stbl", &mp4_box(b"stts", &table));
        let minf = mp4_box(b"minf", &stbl);
        let mdia = mp4_box(b"mdia", &[mp4_box(b"mdhd", &mdhd), minf].concat());
        mp4_box(b"trak", &mdia)
    }

    fn file(moov_children: &[Vec<u8>]) -> Vec<u8> {
        let ftyp = mp4_box(b"ftyp", b"isom\0\0\x02\0isomiso2");
        [ftyp, mp4_box(b"moov", &moov_children.concat())].concat()
    }

    #[test]
    fn reads_version_0_and_version_1_movie_headers() {
        let v0 = file(&[mvhd_v0(1000, 12_345), trak(1000, 12_345, &[(1, 12_345)])]);
        assert_eq!(duration_ms(&v0), Ok(12_345));
        let v1 = file(&[
            mvhd_v1(90_000, 90_000 * 20),
            trak(90_000, 90_000, &[(30, 3000)]),
        ]);
        assert_eq!(duration_ms(&v1), Ok(20_000));
        // Rounded up: 1 unit at 3 per second is 334 ms, never 333.
        let short = file(&[mvhd_v0(3, 1), trak(3, 1, &[(1, 1)])]);
        assert_eq!(duration_ms(&short), Ok(334));
    }

    #[test]
    fn the_longest_header_or_sample_table_wins() {
        // The movie header claims 5 s; the samples play for an hour.
        let liar = file(&[mvhd_v0(1000, 5_000), trak(1000, 5_000, &[(3600, 1000)])]);
        assert_eq!(duration_ms(&liar), Ok(3_600_000));
        let media_header_liar = file(&[mvhd_v0(1000, 5_000), trak(10, 36_000, &[(1, 1)])]);
        assert_eq!(duration_ms(&media_header_liar), Ok(3_600_000));
    }

    #[test]
    fn a_64_bit_box_size_and_a_box_to_the_end_are_read() {
        let ftyp = mp4_box(b"ftyp", b"isom\0\0\x02\0");
        let moov_payload = [mvhd_v0(1000, 2_000), trak(1000, 2_000, &[(2, 1000)])].concat();
        let mut large = 1u32.to_be_bytes().to_vec();
        large.extend_from_slice(b"moov");
        large.extend_from_slice(&((moov_payload.len() + 16) as u64).to_be_bytes());
        large.extend_from_slice(&moov_payload);
        assert_eq!(duration_ms(&[ftyp.clone(), large].concat()), Ok(2_000));
        let mut to_end = 0u32.to_be_bytes().to_vec();
        to_end.extend_from_slice(b"moov");
        to_end.extend_from_slice(&moov_payload);
        assert_eq!(duration_ms(&[ftyp, to_end].concat()), Ok(2_000));
    }

    #[test]
    fn unmeasurable_files_are_refused() {
        let ok = file(&[mvhd_v0(1000, 1_000), trak(1000, 1_000, &[(1, 1000)])]);
        // Truncated anywhere: an error, never a panic or a shorter duration.
        for cut in 0..ok.len() {
            assert!(duration_ms(&ok[..cut]).is_err(), "cut at {cut}");
        }
        assert!(
            duration_ms(&file(&[mvhd_v0(0, 1_000)])).is_err(),
            "zero timescale"
        );
        assert!(
            duration_ms(&file(&[mvhd_v0(1000, u32::MAX)])).is_err(),
            "unknown"
        );
        assert!(
            duration_ms(&file(&[mvhd_v0(1000, 1000)])).is_err(),
            "no tracks"
        );
        let fragmented = [ok.clone(), mp4_box(b"moof", &[])].concat();
        assert!(duration_ms(&fragmented)
            .unwrap_err()
            .to_string()
            .contains("fragmented"));
        let mvex = file(&[mvhd_v0(1000, 0), mp4_box(b"mvex", &[]), trak(1000, 0, &[])]);
        assert!(duration_ms(&mvex).is_err());
        // An stts count larger than the table is a lie, not a loop bound.
        let mut lying = trak(1000, 1000, &[(1, 1000)]);
        let n = lying.len();
        lying[n - 12..n - 8].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(duration_ms(&file(&[mvhd_v0(1000, 1000), lying])).is_err());
        // A box of size 4 (smaller than its header) and a box past the end.
        assert!(duration_ms(b"\0\0\0\x04ftyp").is_err());
        assert!(duration_ms(b"\0\0\0\xffftypisom").is_err());
        assert!(duration_ms(b"").is_err());
    }
}
