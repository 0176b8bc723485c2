pub mod render;
pub mod voice;
