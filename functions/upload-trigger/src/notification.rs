//! The parts of an S3 event notification the trigger reads.
//!
//! Parsed leniently on purpose: S3 sends more (`userIdentity`, `requestParameters`,
//! `sequencer`, …) that nothing here uses, and other S3-compatible senders (moto among them)
//! leave those out. A required field we do not read is one more way to drop an upload.

use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct Notification {
    #[serde(rename = "Records", default)]
    pub records: Vec<Record>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    /// e.g. `ObjectCreated:Put` (no `s3:` prefix in notifications).
    #[serde(default)]
    pub event_name: String,
    pub s3: Entity,
}

#[derive(Debug, Deserialize)]
pub struct Entity {
    pub bucket: Bucket,
    pub object: Object,
}

#[derive(Debug, Deserialize)]
pub struct Bucket {
    pub name: String,
}

#[derive(Debug, Deserialize)]
pub struct Object {
    /// URL-encoded as in every S3 notification (`+` for spaces).
    pub key: String,
    #[serde(rename = "eTag", default)]
    pub e_tag: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_s3_documents_and_what_it_does_not_need_may_be_missing() {
        // AWS's documented example (abridged only in the fields a sender may omit).
        let full = r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1",
            "eventTime":"1970-01-01T00:00:00.000Z","eventName":"ObjectCreated:Put",
            "userIdentity":{"principalId":"AIDAJDPLRKLG7UEXAMPLE"},
            "requestParameters":{"sourceIPAddress":"127.0.0.1"},
            "responseElements":{"x-amz-request-id":"C3D13FE58DE4C810","x-amz-id-2":"FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD"},
            "s3":{"s3SchemaVersion":"1.0","configurationId":"testConfigRule",
              "bucket":{"name":"mybucket","ownerIdentity":{"principalId":"A3NL1KOZZKExample"},"arn":"arn:aws:s3:::mybucket"},
              "object":{"key":"HappyFace.jpg","size":1024,"eTag":"d41d8cd98f00b204e9800998ecf8427e","versionId":"096fKKXTRTtl3on89fVO.nfljtsv6qko","sequencer":"0055AED6DCD90281E5"}}}]}"#;
        let parsed: Notification = serde_json::from_str(full).unwrap();
        assert_eq!(parsed.records[0].event_name, "ObjectCreated:Put");
        assert_eq!(parsed.records[0].s3.bucket.name, "mybucket");
        assert_eq!(
            parsed.records[0].s3.object.e_tag,
            "d41d8cd98f00b204e9800998ecf8427e"
        );

        let minimal = r#"{"Records":[{"eventName":"ObjectCreated:Put",
            "s3":{"bucket":{"name":"b"},"object":{"key":"k","eTag":"e"}}}]}"#;
        let parsed: Notification = serde_json::from_str(minimal).unwrap();
        assert_eq!(parsed.records[0].s3.object.key, "k");

        let no_key = r#"{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{}}}]}"#;
        assert!(serde_json::from_str::<Notification>(no_key).is_err());
    }
}
