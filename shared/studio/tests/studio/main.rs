//! The machine tools: ffmpeg renders checked with ffprobe.

mod quality;
mod render;
