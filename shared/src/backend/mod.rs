pub mod local;
pub mod aws;
