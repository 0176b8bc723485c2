//! The built-in music bed: a calm, loopable piece synthesised here (nothing downloaded,
//! nothing shipped), so it is this project's own work, released under CC0 like the rest of
//! the generated media it ends up in.
//!
//! C major, I – V/B – vi – IV (C, G/B, Am, F) at 96 bpm, one chord per two bars (5 s), so
//! the piece repeats exactly every 20 s:
//! * pad: the three chord tones, with 2nd and 3rd harmonics and a detuned copy for width,
//!   re-struck with each chord (0.25 s attack, 0.35 s release);
//! * arpeggio: eighth notes up the chord an octave higher, plucked, panned by note;
//! * bass: the chord's root in octave 2-3 on beats 1 and 3.
//!
//! Every note starts its phase at its own onset, so the signal is periodic with the chord
//! cycle; the renderer adds a little room (echo) and filtering and loops it.

use std::f64::consts::PI;
use std::path::{Path, PathBuf};

/// Samples per second of the bed.
pub const RATE: u32 = 48_000;
/// The piece repeats exactly after this many seconds.
pub const CYCLE_SECONDS: u32 = 20;

const CHORDS: [(f64, [f64; 3]); 4] = [
    (130.81, [261.63, 329.63, 392.00]), // C : C3 | C4 E4 G4
    (123.47, [246.94, 293.66, 392.00]), // G/B: B2 | B3 D4 G4
    (110.00, [261.63, 329.63, 440.00]), // Am: A2 | C4 E4 A4
    (87.31, [261.63, 349.23, 440.00]),  // F : F2 | C4 F4 A4
];
const BEAT: f64 = 60.0 / 96.0;
const CHORD_S: f64 = 8.0 * BEAT;

/// One channel's sample at time `t` (seconds); `detune` widens the pad, the arpeggio's
/// gains alternate by note for a little panning.
fn sample(t: f64, detune: f64, arp_even: f64, arp_odd: f64) -> f64 {
    let k = ((t / CHORD_S).floor() as usize) % 4;
    let (root, tones) = CHORDS[k];
    let tc = t % CHORD_S;
    let env = (tc / 0.25).min(1.0) * ((CHORD_S - tc) / 0.35).min(1.0);
    let mut pad = 0.0;
    for f in tones {
        pad += (2.0 * PI * f * tc).sin()
            + 0.25 * (4.0 * PI * f * tc).sin()
            + 0.08 * (6.0 * PI * f * tc).sin()
            + 0.6 * (2.0 * PI * f * detune * tc).sin();
    }
    let pad = 0.055 * env * pad;

    let eighth = BEAT / 2.0;
    let j = ((t / eighth).floor() as usize) % 4;
    let arp_f = [
        2.0 * tones[0],
        2.0 * tones[1],
        2.0 * tones[2],
        4.0 * tones[0],
    ][j];
    let t8 = t % eighth;
    let gain = if ((t / eighth).floor() as usize) % 2 == 1 {
        arp_odd
    } else {
        arp_even
    };
    let arp = gain
        * 0.09
        * (t8 / 0.005).min(1.0)
        * ((eighth - t8) / 0.02).min(1.0)
        * (-12.0 * t8).exp()
        * ((2.0 * PI * arp_f * t8).sin() + 0.3 * (4.0 * PI * arp_f * t8).sin());

    let t2 = t % (2.0 * BEAT);
    let bass = 0.16
        * (t2 / 0.01).min(1.0)
        * ((2.0 * BEAT - t2) / 0.05).min(1.0)
        * (-2.5 * t2).exp()
        * ((2.0 * PI * root * t2).sin() + 0.2 * (4.0 * PI * root * t2).sin());
    pad + arp + bass
}

/// `cycles` repetitions of the piece as interleaved stereo 16-bit samples.
pub fn synthesize(cycles: u32) -> Vec<i16> {
    let period = (RATE * CYCLE_SECONDS) as usize;
    let mut one = Vec::with_capacity(period * 2);
    for n in 0..period {
        let t = n as f64 / f64::from(RATE);
        let l = sample(t, 1.0035, 1.0, 0.7);
        let r = sample(t, 0.9965, 0.7, 1.0);
        for v in [l, r] {
            one.push((v.clamp(-1.0, 1.0) * 32_000.0).round() as i16);
        }
    }
    let mut out = Vec::with_capacity(one.len() * cycles as usize);
    for _ in 0..cycles {
        out.extend_from_slice(&one);
    }
    out
}

/// A 16-bit PCM WAV of interleaved stereo `samples`.
pub fn wav_bytes(samples: &[i16]) -> Vec<u8> {
    let data_len = (samples.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&2u16.to_le_bytes()); // stereo
    out.extend_from_slice(&RATE.to_le_bytes());
    out.extend_from_slice(&(RATE * 4).to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

/// The bed as a WAV file of at least `seconds` plus one cycle (the renderer's echo needs a
/// cycle before the part it keeps), written once into `dir` and reused.
pub async fn bed_file(dir: &Path, seconds: u32) -> std::io::Result<PathBuf> {
    let cycles = seconds.div_ceil(CYCLE_SECONDS) + 1;
    let path = dir.join(format!("reelforge-music-bed-v1-{cycles}.wav"));
    if tokio::fs::metadata(&path).await.is_ok() {
        return Ok(path);
    }
    let bytes = tokio::task::spawn_blocking(move || wav_bytes(&synthesize(cycles)))
        .await
        .map_err(std::io::Error::other)?;
    // Written beside, renamed into place: a reader never sees half a file.
    let tmp = dir.join(format!(
        "reelforge-music-bed-v1-{cycles}.{}.tmp",
        std::process::id()
    ));
    tokio::fs::write(&tmp, bytes).await?;
    tokio::fs::rename(&tmp, &path).await?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The piece repeats exactly: the last samples of a cycle flow into the first of the
    /// next with no jump larger than the signal's own steps (no click at the loop point).
    #[test]
    fn the_bed_loops_without_a_click() {
        let s = synthesize(2);
        let period = (RATE * CYCLE_SECONDS) as usize * 2;
        assert_eq!(s.len(), period * 2);
        assert_eq!(&s[..period], &s[period..]);
        let step = |i: usize| (i32::from(s[i + 2]) - i32::from(s[i])).abs();
        let at_seam = step(period - 2);
        let typical = (2..2000).step_by(2).map(step).max().unwrap_or(0);
        assert!(at_seam <= typical.max(200), "{at_seam} vs {typical}");
        // Not silence, not clipping.
        let peak = s.iter().map(|v| i32::from(*v).abs()).max().unwrap();
        assert!(peak > 3_000 && peak < 32_000, "{peak}");
    }

    #[test]
    fn wav_header_describes_the_samples() {
        let bytes = wav_bytes(&[1, -1, 2, -2]);
        assert_eq!(&bytes[..4], b"RIFF");
        assert_eq!(u32::from_le_bytes(bytes[40..44].try_into().unwrap()), 8);
        assert_eq!(bytes.len(), 44 + 8);
    }
}
