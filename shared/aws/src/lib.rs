//! reelforge's AWS adapters, one Cargo feature per service so each Lambda function links
//! only the SDKs it calls.

#[cfg(feature = "bedrock")]
pub mod bedrock;
#[cfg(feature = "mediaconvert")]
pub mod fanout;
#[cfg(feature = "kms")]
pub mod kms;
#[cfg(feature = "mediaconvert")]
pub mod mediaconvert;
pub mod mediaconvert_events;
#[cfg(feature = "polly")]
pub mod polly;
#[cfg(feature = "s3")]
pub mod s3;
#[cfg(all(feature = "dynamodb", feature = "sqs"))]
pub mod store;
