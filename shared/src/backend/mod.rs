pub mod aws;
pub mod local;
