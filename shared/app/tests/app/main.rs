//! The use cases on both backends (SQLite and DynamoDB/SQS through moto): the port contract suite, concurrency, the pipeline stages, webhooks, store failures, and the template's IAM against the calls each route makes.

mod concurrency;
mod contract;
mod hardening;
mod openapi;
mod pipeline_stages;
mod pipeline_webhooks;
mod publish;
mod reliability_store;
mod review;
mod template;
