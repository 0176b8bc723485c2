//! The AWS adapters on the exact requests they send (MediaConvert, Polly, Bedrock, KMS) through a loopback stub, and the script writers (local and Bedrock).

mod aws_media;
mod kms;
mod script;
