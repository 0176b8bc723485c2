//! A music upload's format and running time, read from its own bytes (the request's
//! `Content-Type` is not trusted): MP3 by walking every MPEG audio frame from the first
//! to the last (a file whose frames don't chain is refused, so a truncated or disguised
//! file never reaches the renderer), WAV from its `fmt ` and `data` chunks, M4A from its
//! movie header (`crate::mp4`).

use std::fmt;

/// What an upload is, and its media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoundKind {
    Mp3,
    M4a,
    Wav,
}

impl SoundKind {
    pub fn extension(self) -> &'static str {
        match self {
            SoundKind::Mp3 => "mp3",
            SoundKind::M4a => "m4a",
            SoundKind::Wav => "wav",
        }
    }
    pub fn content_type(self) -> &'static str {
        match self {
            SoundKind::Mp3 => "audio/mpeg",
            SoundKind::M4a => "audio/mp4",
            SoundKind::Wav => "audio/wav",
        }
    }
}

/// Why the bytes are refused; the text is for the customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoundError(pub &'static str);

impl fmt::Display for SoundError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// The file's kind and running time in milliseconds.
pub fn measure(bytes: &[u8]) -> Result<(SoundKind, u64), SoundError> {
    if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WAVE" {
        return wav_ms(bytes).map(|ms| (SoundKind::Wav, ms));
    }
    if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        return crate::mp4::duration_ms(bytes)
            .map(|ms| (SoundKind::M4a, ms))
            .map_err(|_| SoundError("the music is not a readable M4A file"));
    }
    let mp3_frame = bytes.len() >= 2 && bytes[0] == 0xFF && (bytes[1] & 0xE0) == 0xE0;
    if bytes.starts_with(b"ID3") || mp3_frame {
        return mp3_ms(bytes).map(|ms| (SoundKind::Mp3, ms));
    }
    Err(SoundError("the music must be an MP3, M4A or WAV file"))
}

fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn wav_ms(b: &[u8]) -> Result<u64, SoundError> {
    let bad = SoundError("the music is not a readable WAV file");
    let mut at = 12;
    let mut byte_rate = None;
    while at + 8 <= b.len() {
        let id = &b[at..at + 4];
        let size = le_u32(b, at + 4).ok_or(bad.clone())? as usize;
        let body = at + 8;
        if id == b"fmt " {
            byte_rate = le_u32(b, body + 8).filter(|r| *r > 0);
        } else if id == b"data" {
            let rate = byte_rate.ok_or(bad.clone())?;
            // A streamed WAV may say 0 or more than it holds: count what is there.
            let data = size.min(b.len() - body) as u64;
            if data == 0 {
                return Err(bad);
            }
            return Ok(data * 1000 / u64::from(rate));
        }
        at = body.checked_add(size + (size & 1)).ok_or(bad.clone())?;
    }
    Err(bad)
}

/// Bitrates (kbit/s) by index: MPEG-1 Layer III, then MPEG-2/2.5 Layer III.
const BITRATES_V1: [u32; 15] = [
    0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
];
const BITRATES_V2: [u32; 15] = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];

/// One Layer III frame header at `h`: (frame length in bytes, samples, sample rate).
fn frame(h: &[u8]) -> Option<(usize, u32, u32)> {
    if h.len() < 4 || h[0] != 0xFF || (h[1] & 0xE0) != 0xE0 {
        return None;
    }
    let version = (h[1] >> 3) & 3; // 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5
    let layer = (h[1] >> 1) & 3; // 1: Layer III
    if version == 1 || layer != 1 {
        return None;
    }
    let bitrate_index = (h[2] >> 4) as usize;
    let rate_index = ((h[2] >> 2) & 3) as usize;
    if bitrate_index == 0 || bitrate_index == 15 || rate_index == 3 {
        return None;
    }
    let base = [44_100, 48_000, 32_000][rate_index];
    let (rate, kbps, per_frame) = match version {
        3 => (base, BITRATES_V1[bitrate_index], 1152),
        2 => (base / 2, BITRATES_V2[bitrate_index], 576),
        _ => (base / 4, BITRATES_V2[bitrate_index], 576),
    };
    let padding = ((h[2] >> 1) & 1) as usize;
    let len = (per_frame / 8 * kbps * 1000 / rate) as usize + padding;
    Some((len, per_frame, rate))
}

fn mp3_ms(b: &[u8]) -> Result<u64, SoundError> {
    let bad = SoundError("the music is not a readable MP3 file (its audio frames don't chain)");
    let mut at = 0;
    if b.starts_with(b"ID3") && b.len() >= 10 {
        // ID3v2: a 10-byte header with a 28-bit "syncsafe" size, and an optional footer.
        let size = b[6..10]
            .iter()
            .fold(0usize, |acc, &x| (acc << 7) | usize::from(x & 0x7F));
        let footer = if b[5] & 0x10 != 0 { 10 } else { 0 };
        at = 10 + size + footer;
    }
    let mut micros: u64 = 0;
    let mut frames = 0u32;
    while at < b.len() {
        let rest = &b[at..];
        if rest.len() == 128 && rest.starts_with(b"TAG") {
            break; // ID3v1 at the end
        }
        let Some((len, samples, rate)) = frame(rest) else {
            return Err(bad);
        };
        if len > rest.len() {
            // A last frame cut short by a few bytes plays; anything else is refused.
            if frames == 0 {
                return Err(bad);
            }
            break;
        }
        micros += u64::from(samples) * 1_000_000 / u64::from(rate);
        frames += 1;
        at += len;
    }
    if frames == 0 {
        return Err(bad);
    }
    Ok(micros / 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(seconds: u32) -> Vec<u8> {
        let (rate, channels, bits) = (8_000u32, 1u16, 16u16);
        let data = rate * seconds * 2;
        let mut b = Vec::new();
        b.extend_from_slice(b"RIFF");
        b.extend_from_slice(&(36 + data).to_le_bytes());
        b.extend_from_slice(b"WAVEfmt ");
        b.extend_from_slice(&16u32.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&channels.to_le_bytes());
        b.extend_from_slice(&rate.to_le_bytes());
        b.extend_from_slice(&(rate * 2).to_le_bytes());
        b.extend_from_slice(&2u16.to_le_bytes());
        b.extend_from_slice(&bits.to_le_bytes());
        b.extend_from_slice(b"data");
        b.extend_from_slice(&data.to_le_bytes());
        b.resize(b.len() + data as usize, 0);
        b
    }

    /// `n` MPEG-1 Layer III frames at 128 kbit/s, 44.1 kHz (417 bytes each, no padding).
    fn mp3(n: usize) -> Vec<u8> {
        let mut b = Vec::new();
        for _ in 0..n {
            let mut f = vec![0xFF, 0xFB, 0x90, 0x64];
            f.resize(417, 0);
            b.extend_from_slice(&f);
        }
        b
    }

    #[test]
    fn wav_length_comes_from_its_chunks() {
        assert_eq!(measure(&wav(3)), Ok((SoundKind::Wav, 3000)));
        let mut no_data = wav(1);
        no_data.truncate(36);
        assert!(measure(&no_data).is_err());
    }

    #[test]
    fn mp3_length_is_the_sum_of_its_frames() {
        // 1152 samples at 44.1 kHz is 26.122 ms a frame.
        let (kind, ms) = measure(&mp3(383)).unwrap();
        assert_eq!(kind, SoundKind::Mp3);
        assert!((9_990..=10_010).contains(&ms), "{ms}");
        // An ID3v2 tag in front is skipped.
        let mut tagged = b"ID3\x04\x00\x00\x00\x00\x00\x0A".to_vec();
        tagged.extend_from_slice(&[0; 10]);
        tagged.extend_from_slice(&mp3(10));
        assert_eq!(measure(&tagged).unwrap().0, SoundKind::Mp3);
        // Garbage after a valid first frame is refused, as is a lone frame sync.
        let mut broken = mp3(5);
        broken.extend_from_slice(&[0x12; 600]);
        assert!(measure(&broken).is_err());
        assert!(measure(&[0xFF, 0xFB, 0x00, 0x00]).is_err());
    }

    #[test]
    fn other_bytes_are_refused_by_name() {
        assert_eq!(
            measure(b"OggS\0\0\0\0\0\0\0\0").unwrap_err().0,
            "the music must be an MP3, M4A or WAV file"
        );
        assert!(measure(b"\0\0\0\x18ftypM4A \0\0\0\0").is_err());
    }
}
