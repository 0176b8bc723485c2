//! Provisioning for tests and `reelforge setup`: the table (with its index and TTL) and
//! the queues.

use super::*;

impl AwsStore {
    /// Creates the table with its GSI and TTL, and waits until it is active. Idempotent.
    pub async fn create_table(&self) -> StoreResult<()> {
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(build_err)
        };
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(build_err)
        };
        let gsi = GlobalSecondaryIndex::builder()
            .index_name(GSI1)
            .key_schema(key("gsi1pk", KeyType::Hash)?)
            .key_schema(key("gsi1sk", KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()
            .map_err(build_err)?;
        self.count();
        let created = self
            .dynamo
            .create_table()
            .table_name(&self.names.table)
            .attribute_definitions(attr("pk")?)
            .attribute_definitions(attr("sk")?)
            .attribute_definitions(attr("gsi1pk")?)
            .attribute_definitions(attr("gsi1sk")?)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .global_secondary_indexes(gsi)
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await;
        if let Err(err) = created {
            let exists = err
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception());
            if !exists {
                return Err(sdk_err("CreateTable", err));
            }
        }
        self.wait_for_table().await?;

        self.count();
        let ttl = self
            .dynamo
            .describe_time_to_live()
            .table_name(&self.names.table)
            .send()
            .await
            .map_err(|e| sdk_err("DescribeTimeToLive", e))?;
        let status = ttl
            .time_to_live_description()
            .and_then(|d| d.time_to_live_status());
        if !matches!(
            status,
            Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
        ) {
            self.count();
            self.dynamo
                .update_time_to_live()
                .table_name(&self.names.table)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .attribute_name("ttl")
                        .enabled(true)
                        .build()
                        .map_err(build_err)?,
                )
                .send()
                .await
                .map_err(|e| sdk_err("UpdateTimeToLive", e))?;
        }
        Ok(())
    }

    async fn wait_for_table(&self) -> StoreResult<()> {
        // On-demand tables usually turn active within half a minute.
        for attempt in 0..180u32 {
            self.count();
            let described = self
                .dynamo
                .describe_table()
                .table_name(&self.names.table)
                .send()
                .await
                .map_err(|e| sdk_err("DescribeTable", e))?;
            let status = described.table().and_then(|t| t.table_status());
            if matches!(status, Some(TableStatus::Active)) {
                return Ok(());
            }
            let wait = if attempt < 10 { 100 } else { 1_000 };
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
        Err(StoreError::Unavailable(
            "table did not become active".to_string(),
        ))
    }

    /// Creates an SQS queue and returns its URL. Idempotent for the same name.
    pub async fn create_queue(&self, name: &str) -> StoreResult<String> {
        self.count();
        let out = self
            .sqs
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .map_err(|e| sdk_err("CreateQueue", e))?;
        out.queue_url()
            .map(str::to_string)
            .ok_or_else(|| StoreError::Other("CreateQueue: no queue URL returned".to_string()))
    }
}
