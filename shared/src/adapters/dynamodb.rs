//! The storage port on one DynamoDB table.
//!
//! Table layout:
//! - `pk`, `sk`: the table key, strings.
//! - `gsi1pk`, `gsi1sk` and `gsi2pk`, `gsi2sk`: the keys of the sparse global secondary
//!   indexes `gsi1` and `gsi2`, written only for items that have them.
//! - `version` (N): the optimistic version.
//! - `expires_at` (N): expiry in epoch seconds, the table's TTL attribute.
//! - `data` (S): the record body as a JSON string.
//!
//! DynamoDB's TTL deletes expired items up to days late, so every read filters them out and
//! every condition treats them as absent.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::error::{BuildError, DisplayErrorContext};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, Delete, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, Projection, ProjectionType, Put, ReturnValue, ScalarAttributeType,
    TimeToLiveSpecification, TransactWriteItem,
};

use crate::ports::store::{
    Condition, Index, Item, Key, Page, Position, Query, Store, StoreError, WriteOp,
};

const PK: &str = "pk";
const SK: &str = "sk";
const GSI1_NAME: &str = "gsi1";
const GSI1_PK: &str = "gsi1pk";
const GSI1_SK: &str = "gsi1sk";
const GSI2_NAME: &str = "gsi2";
const GSI2_PK: &str = "gsi2pk";
const GSI2_SK: &str = "gsi2sk";
const VERSION: &str = "version";
const EXPIRES_AT: &str = "expires_at";
const DATA: &str = "data";

/// Maximum number of operations in one `transact` call, fixed by the `Store` port.
const MAX_TRANSACTION_OPERATIONS: usize = 25;

/// How long `create_table` waits for a new table to become active.
const TABLE_ACTIVE_TIMEOUT: Duration = Duration::from_secs(120);

/// `Store` on one DynamoDB table with the layout described in the module documentation.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

/// Creates `name` with the layout that `DynamoStore` expects (on-demand billing, both
/// indexes projecting every attribute), waits until it is active, and enables TTL on
/// `expires_at`. Meant for tests and local set-up scripts.
pub async fn create_table(client: &Client, name: &str) -> Result<(), StoreError> {
    let string_attribute = |attribute: &str| {
        AttributeDefinition::builder()
            .attribute_name(attribute)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(build_failed)
    };
    let key_element = |attribute: &str, key_type: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(attribute)
            .key_type(key_type)
            .build()
            .map_err(build_failed)
    };
    let index = |index_name: &str, pk: &str, sk: &str| {
        GlobalSecondaryIndex::builder()
            .index_name(index_name)
            .key_schema(key_element(pk, KeyType::Hash)?)
            .key_schema(key_element(sk, KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()
            .map_err(build_failed)
    };

    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key_element(PK, KeyType::Hash)?)
        .key_schema(key_element(SK, KeyType::Range)?)
        .global_secondary_indexes(index(GSI1_NAME, GSI1_PK, GSI1_SK)?)
        .global_secondary_indexes(index(GSI2_NAME, GSI2_PK, GSI2_SK)?);
    for attribute in [PK, SK, GSI1_PK, GSI1_SK, GSI2_PK, GSI2_SK] {
        request = request.attribute_definitions(string_attribute(attribute)?);
    }
    request.send().await.map_err(request_failed)?;

    client
        .wait_until_table_exists()
        .table_name(name)
        .wait(TABLE_ACTIVE_TIMEOUT)
        .await
        .map_err(request_failed)?;

    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(EXPIRES_AT)
                .build()
                .map_err(build_failed)?,
        )
        .send()
        .await
        .map_err(request_failed)?;
    Ok(())
}

fn request_failed<E: std::error::Error>(error: E) -> StoreError {
    StoreError::Unavailable(DisplayErrorContext(error).to_string())
}

fn build_failed(error: BuildError) -> StoreError {
    StoreError::Unavailable(format!("invalid DynamoDB request: {error}"))
}

fn now_seconds() -> i64 {
    chrono::Utc::now().timestamp()
}

fn is_live(item: &Item, now: i64) -> bool {
    item.expires_at.is_none_or(|expires_at| expires_at > now)
}

fn string(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn key_attributes(key: &Key) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (PK.to_owned(), string(&key.pk)),
        (SK.to_owned(), string(&key.sk)),
    ])
}

fn item_attributes(item: &Item) -> Result<HashMap<String, AttributeValue>, StoreError> {
    let data = serde_json::to_string(&item.data).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let mut attributes = key_attributes(&item.key);
    // The index attributes are written only when set, which keeps both indexes sparse.
    if let Some(gsi1) = &item.gsi1 {
        attributes.insert(GSI1_PK.to_owned(), string(&gsi1.pk));
        attributes.insert(GSI1_SK.to_owned(), string(&gsi1.sk));
    }
    if let Some(gsi2) = &item.gsi2 {
        attributes.insert(GSI2_PK.to_owned(), string(&gsi2.pk));
        attributes.insert(GSI2_SK.to_owned(), string(&gsi2.sk));
    }
    attributes.insert(
        VERSION.to_owned(),
        AttributeValue::N(item.version.to_string()),
    );
    if let Some(expires_at) = item.expires_at {
        attributes.insert(
            EXPIRES_AT.to_owned(),
            AttributeValue::N(expires_at.to_string()),
        );
    }
    attributes.insert(DATA.to_owned(), AttributeValue::S(data));
    Ok(attributes)
}

fn optional_string<'a>(
    attributes: &'a HashMap<String, AttributeValue>,
    name: &str,
) -> Result<Option<&'a str>, StoreError> {
    match attributes.get(name) {
        None => Ok(None),
        Some(AttributeValue::S(value)) => Ok(Some(value)),
        Some(_) => Err(StoreError::Corrupt(format!(
            "attribute {name} is not a string"
        ))),
    }
}

fn required_string<'a>(
    attributes: &'a HashMap<String, AttributeValue>,
    name: &str,
) -> Result<&'a str, StoreError> {
    optional_string(attributes, name)?
        .ok_or_else(|| StoreError::Corrupt(format!("attribute {name} is missing")))
}

fn optional_number<T: std::str::FromStr>(
    attributes: &HashMap<String, AttributeValue>,
    name: &str,
) -> Result<Option<T>, StoreError> {
    match attributes.get(name) {
        None => Ok(None),
        Some(AttributeValue::N(value)) => value.parse().map(Some).map_err(|_| {
            StoreError::Corrupt(format!("attribute {name} is not an integer: {value}"))
        }),
        Some(_) => Err(StoreError::Corrupt(format!(
            "attribute {name} is not a number"
        ))),
    }
}

fn index_key(
    attributes: &HashMap<String, AttributeValue>,
    pk_name: &str,
    sk_name: &str,
) -> Result<Option<Key>, StoreError> {
    Ok(
        match (
            optional_string(attributes, pk_name)?,
            optional_string(attributes, sk_name)?,
        ) {
            (Some(pk), Some(sk)) => Some(Key::new(pk, sk)),
            _ => None,
        },
    )
}

fn parse_item(attributes: &HashMap<String, AttributeValue>) -> Result<Item, StoreError> {
    let data = required_string(attributes, DATA)?;
    Ok(Item {
        key: Key::new(
            required_string(attributes, PK)?,
            required_string(attributes, SK)?,
        ),
        gsi1: index_key(attributes, GSI1_PK, GSI1_SK)?,
        gsi2: index_key(attributes, GSI2_PK, GSI2_SK)?,
        version: optional_number(attributes, VERSION)?
            .ok_or_else(|| StoreError::Corrupt(format!("attribute {VERSION} is missing")))?,
        expires_at: optional_number(attributes, EXPIRES_AT)?,
        data: serde_json::from_str(data).map_err(|e| StoreError::Corrupt(e.to_string()))?,
    })
}

/// A condition expression with the placeholders it uses.
#[derive(Debug, Default, PartialEq)]
struct Expression {
    text: String,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

/// Translates `condition` for the item it guards, or returns `None` for `Condition::None`.
/// An item whose `expires_at` is at or before `now` counts as absent.
fn condition_expression(condition: Condition, now: i64) -> Option<Expression> {
    let live =
        "attribute_exists(#pk) AND (attribute_not_exists(#expires_at) OR #expires_at > :now)";
    let text = match condition {
        Condition::None => return None,
        Condition::NotExists => "attribute_not_exists(#pk) OR #expires_at <= :now".to_owned(),
        Condition::Exists => live.to_owned(),
        Condition::Version(_) => format!("{live} AND #version = :version"),
    };
    let mut names = HashMap::from([
        ("#pk".to_owned(), PK.to_owned()),
        ("#expires_at".to_owned(), EXPIRES_AT.to_owned()),
    ]);
    let mut values = HashMap::from([(":now".to_owned(), AttributeValue::N(now.to_string()))]);
    if let Condition::Version(version) = condition {
        names.insert("#version".to_owned(), VERSION.to_owned());
        values.insert(
            ":version".to_owned(),
            AttributeValue::N(version.to_string()),
        );
    }
    Some(Expression {
        text,
        names,
        values,
    })
}

/// Returns the partition and sort key attribute names of `index` and its DynamoDB index
/// name.
fn index_attributes(index: Index) -> (&'static str, &'static str, Option<&'static str>) {
    match index {
        Index::Table => (PK, SK, None),
        Index::Gsi1 => (GSI1_PK, GSI1_SK, Some(GSI1_NAME)),
        Index::Gsi2 => (GSI2_PK, GSI2_SK, Some(GSI2_NAME)),
    }
}

/// Converts a position into an `ExclusiveStartKey`, which on an index needs both the
/// table key and the index key.
fn exclusive_start_key(
    position: &Position,
    index: Index,
) -> Result<HashMap<String, AttributeValue>, StoreError> {
    let (index_pk, index_sk, _) = index_attributes(index);
    let mut names = vec![PK, SK];
    if index != Index::Table {
        names.extend([index_pk, index_sk]);
    }
    names
        .into_iter()
        .map(|name| {
            let value = position
                .0
                .get(name)
                .ok_or_else(|| StoreError::Corrupt(format!("position lacks {name}")))?;
            Ok((name.to_owned(), string(value)))
        })
        .collect()
}

/// Translates one operation, or returns `None` for a check without a condition: such a
/// check always passes, and TransactWriteItems requires a condition on every ConditionCheck.
fn transact_item(
    operation: &WriteOp,
    table: &str,
    now: i64,
) -> Result<Option<TransactWriteItem>, StoreError> {
    let builder = TransactWriteItem::builder();
    let builder = match operation {
        WriteOp::Put(item, condition) => {
            let expression = condition_expression(*condition, now).unwrap_or_default();
            builder.put(
                Put::builder()
                    .table_name(table)
                    .set_item(Some(item_attributes(item)?))
                    .set_condition_expression(non_empty(expression.text))
                    .set_expression_attribute_names(non_empty_map(expression.names))
                    .set_expression_attribute_values(non_empty_map(expression.values))
                    .build()
                    .map_err(build_failed)?,
            )
        }
        WriteOp::Delete(key, condition) => {
            let expression = condition_expression(*condition, now).unwrap_or_default();
            builder.delete(
                Delete::builder()
                    .table_name(table)
                    .set_key(Some(key_attributes(key)))
                    .set_condition_expression(non_empty(expression.text))
                    .set_expression_attribute_names(non_empty_map(expression.names))
                    .set_expression_attribute_values(non_empty_map(expression.values))
                    .build()
                    .map_err(build_failed)?,
            )
        }
        WriteOp::Check(key, condition) => {
            let Some(expression) = condition_expression(*condition, now) else {
                return Ok(None);
            };
            builder.condition_check(
                ConditionCheck::builder()
                    .table_name(table)
                    .set_key(Some(key_attributes(key)))
                    .condition_expression(expression.text)
                    .set_expression_attribute_names(Some(expression.names))
                    .set_expression_attribute_values(Some(expression.values))
                    .build()
                    .map_err(build_failed)?,
            )
        }
    };
    Ok(Some(builder.build()))
}

fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

fn non_empty_map<V>(map: HashMap<String, V>) -> Option<HashMap<String, V>> {
    (!map.is_empty()).then_some(map)
}

fn operation_key(operation: &WriteOp) -> &Key {
    match operation {
        WriteOp::Put(item, _) => &item.key,
        WriteOp::Delete(key, _) | WriteOp::Check(key, _) => key,
    }
}

/// Maps a cancelled transaction to `ConditionFailed` when any operation's condition
/// failed. Other reasons, such as a conflict with a concurrent transaction, are transient
/// and map to `Unavailable`.
fn transaction_error(
    error: aws_sdk_dynamodb::error::SdkError<TransactWriteItemsError>,
) -> StoreError {
    if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
        error.as_service_error()
    {
        let codes: Vec<&str> = cancelled
            .cancellation_reasons()
            .iter()
            .filter_map(|reason| reason.code())
            // Operations that did not cause the cancellation report the code "None".
            .filter(|code| *code != "None")
            .collect();
        if codes.contains(&"ConditionalCheckFailed") {
            return StoreError::ConditionFailed;
        }
        return StoreError::Unavailable(format!(
            "transaction cancelled, reasons: {}",
            codes.join(", ")
        ));
    }
    request_failed(error)
}

#[async_trait]
impl Store for DynamoStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_attributes(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(request_failed)?;
        let Some(attributes) = output.item() else {
            return Ok(None);
        };
        let item = parse_item(attributes)?;
        Ok(is_live(&item, now_seconds()).then_some(item))
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        let expression = condition_expression(condition, now_seconds()).unwrap_or_default();
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item_attributes(&item)?))
            .set_condition_expression(non_empty(expression.text))
            .set_expression_attribute_names(non_empty_map(expression.names))
            .set_expression_attribute_values(non_empty_map(expression.values))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Err(StoreError::ConditionFailed)
            }
            Err(error) => Err(request_failed(error)),
        }
    }

    async fn delete(&self, key: &Key, condition: Condition) -> Result<bool, StoreError> {
        let now = now_seconds();
        let expression = condition_expression(condition, now).unwrap_or_default();
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_attributes(key)))
            .set_condition_expression(non_empty(expression.text))
            .set_expression_attribute_names(non_empty_map(expression.names))
            .set_expression_attribute_values(non_empty_map(expression.values))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        let output = match result {
            Ok(output) => output,
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                return Err(StoreError::ConditionFailed);
            }
            Err(error) => return Err(request_failed(error)),
        };
        // Deleting an expired item that TTL has not removed yet deletes nothing live.
        match output.attributes() {
            Some(old) if !old.is_empty() => Ok(is_live(&parse_item(old)?, now)),
            _ => Ok(false),
        }
    }

    async fn transact(&self, operations: Vec<WriteOp>) -> Result<(), StoreError> {
        if operations.len() > MAX_TRANSACTION_OPERATIONS {
            return Err(StoreError::Unavailable(format!(
                "a transaction contains at most {MAX_TRANSACTION_OPERATIONS} operations, got {}",
                operations.len()
            )));
        }
        let now = now_seconds();
        let mut items = Vec::with_capacity(operations.len());
        let mut keys = HashSet::new();
        for operation in &operations {
            let Some(item) = transact_item(operation, &self.table, now)? else {
                continue;
            };
            // DynamoDB rejects a transaction that touches one item twice, so report it
            // here with the key instead of as an opaque validation error.
            let key = operation_key(operation);
            if !keys.insert(key) {
                return Err(StoreError::Unavailable(format!(
                    "a transaction may touch each item once, but ({}, {}) appears twice",
                    key.pk, key.sk
                )));
            }
            items.push(item);
        }
        // TransactWriteItems rejects an empty list, and an empty transaction changes nothing.
        if items.is_empty() {
            return Ok(());
        }

        self.client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map_err(transaction_error)?;
        Ok(())
    }

    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        let (pk_name, sk_name, index_name) = index_attributes(query.index);
        let mut key_condition = "#key_pk = :key_pk".to_owned();
        let mut names = HashMap::from([
            ("#key_pk".to_owned(), pk_name.to_owned()),
            ("#expires_at".to_owned(), EXPIRES_AT.to_owned()),
        ]);
        let mut values = HashMap::from([
            (":key_pk".to_owned(), string(&query.pk)),
            (
                ":now".to_owned(),
                AttributeValue::N(now_seconds().to_string()),
            ),
        ]);
        if let Some(prefix) = &query.sk_prefix {
            key_condition.push_str(" AND begins_with(#key_sk, :sk_prefix)");
            names.insert("#key_sk".to_owned(), sk_name.to_owned());
            values.insert(":sk_prefix".to_owned(), string(prefix));
        }
        let mut start_key = query
            .start_after
            .as_ref()
            .map(|position| exclusive_start_key(position, query.index))
            .transpose()?;

        // One item beyond the limit shows whether another page follows. DynamoDB applies
        // `Limit` before the expiry filter and stops at 1 MB, so a request may return fewer
        // live items than requested, and the loop follows `LastEvaluatedKey` until it has
        // enough or the partition ends.
        let needed = query.limit.saturating_add(1);
        let mut items = Vec::new();
        loop {
            let remaining = i32::try_from(needed - items.len()).unwrap_or(i32::MAX);
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(index_name.map(str::to_owned))
                .key_condition_expression(&key_condition)
                .filter_expression("attribute_not_exists(#expires_at) OR #expires_at > :now")
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .scan_index_forward(!query.descending)
                // Global secondary indexes support only eventually consistent reads.
                .consistent_read(query.index == Index::Table)
                .limit(remaining)
                .set_exclusive_start_key(start_key.take())
                .send()
                .await
                .map_err(request_failed)?;
            for attributes in output.items() {
                items.push(parse_item(attributes)?);
            }
            if items.len() >= needed {
                break;
            }
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start_key = Some(key),
                _ => break,
            }
        }

        let next = if items.len() > query.limit {
            items.truncate(query.limit);
            items.last().map(|item| item.position(query.index))
        } else {
            None
        };
        Ok(Page { items, next })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_attributes_round_trip() {
        let item = Item::new(
            Key::new("p", "s"),
            serde_json::json!({"name": "a", "n": [1, 2]}),
        )
        .with_gsi1(Key::new("g1p", "g1s"))
        .with_gsi2(Key::new("g2p", "g2s"))
        .expiring_at(1_700_000_000);

        let attributes = item_attributes(&item).unwrap();

        assert_eq!(parse_item(&attributes).unwrap(), item);
    }

    #[test]
    fn item_attributes_omit_unset_indexes_and_expiry() {
        let item = Item::new(Key::new("p", "s"), serde_json::json!(null));

        let attributes = item_attributes(&item).unwrap();

        for name in [GSI1_PK, GSI1_SK, GSI2_PK, GSI2_SK, EXPIRES_AT] {
            assert!(!attributes.contains_key(name), "{name} written");
        }
        assert_eq!(parse_item(&attributes).unwrap(), item);
    }

    #[test]
    fn parse_item_rejects_missing_version() {
        let mut attributes = item_attributes(&Item::new(Key::new("p", "s"), 1.into())).unwrap();
        attributes.remove(VERSION);

        let error = parse_item(&attributes).unwrap_err();

        assert!(matches!(error, StoreError::Corrupt(message) if message.contains(VERSION)));
    }

    #[test]
    fn parse_item_rejects_invalid_json() {
        let mut attributes = item_attributes(&Item::new(Key::new("p", "s"), 1.into())).unwrap();
        attributes.insert(DATA.to_owned(), string("{not json"));

        assert!(matches!(
            parse_item(&attributes),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn condition_none_has_no_expression() {
        assert_eq!(condition_expression(Condition::None, 10), None);
    }

    #[test]
    fn condition_version_binds_version_and_now() {
        let expression = condition_expression(Condition::Version(7), 10).unwrap();

        assert!(expression.text.contains("#version = :version"));
        assert_eq!(
            expression.values[":version"],
            AttributeValue::N("7".to_owned())
        );
        assert_eq!(
            expression.values[":now"],
            AttributeValue::N("10".to_owned())
        );
        assert_eq!(expression.names["#version"], VERSION);
    }

    #[test]
    fn exclusive_start_key_on_index_needs_index_key() {
        let item = Item::new(Key::new("p", "s"), 1.into()).with_gsi2(Key::new("g", "h"));

        let start = exclusive_start_key(&item.position(Index::Gsi2), Index::Gsi2).unwrap();

        assert_eq!(start.len(), 4);
        assert_eq!(start[GSI2_SK], string("h"));
        assert!(matches!(
            exclusive_start_key(&item.position(Index::Table), Index::Gsi2),
            Err(StoreError::Corrupt(_))
        ));
    }
}
