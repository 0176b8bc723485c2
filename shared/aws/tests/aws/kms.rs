//! The KMS sealer on the exact requests it sends: the SDK client is pointed at a loopback
//! HTTP server started by each test, which records every request and answers with
//! responses shaped like KMS's documented ones. Nothing leaves 127.0.0.1.

use reelforge_testkit::stub_aws;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use reelforge_aws::kms::KmsSealer;
use reelforge_core::styles::{SealedSecret, SecretError, SecretOwner, SecretSealer};
use reelforge_local::LocalKeySealer;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Mutex;
use stub_aws::{sdk_config, Canned, Recorded, Server};

const SECRET: &str = "sk_live_HUNTER2_0123456789f3a";
const KEY_ALIAS: &str = "alias/reelforge-secrets";
const KEY_ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
/// An opaque ciphertext as KMS would return it (bytes that are not the secret).
const BLOB: &[u8] = b"\x01\x02\x02\x00x\xa1kms-ciphertext-blob\x00\xff\x10";

fn owner() -> SecretOwner {
    SecretOwner::new("acct_01", "vp_01")
}

fn kms_json(status: u16, body: Value) -> Canned {
    Canned {
        status,
        headers: vec![("content-type", "application/x-amz-json-1.1".into())],
        body: body.to_string().into_bytes(),
    }
}

fn kms_error(status: u16, code: &str) -> Canned {
    kms_json(
        status,
        json!({"__type": code, "message": "refused by the test server"}),
    )
}

/// For tests that expect no request: answers (so that the request is recorded) with an
/// error the sealer under test would not turn into the error the test expects.
fn unexpected(_: &Recorded) -> Canned {
    kms_error(500, "UnexpectedRequest")
}

async fn sealer_for(server: &Server) -> KmsSealer {
    let client = aws_sdk_kms::Client::new(&sdk_config(&server.endpoint).await);
    KmsSealer::new(client, KEY_ALIAS)
}

fn kms_sealed() -> SealedSecret {
    SealedSecret {
        ciphertext_b64: B64.encode(BLOB),
        nonce_b64: String::new(),
        key_id: format!("kms:{KEY_ARN}"),
        masked: "…9f3a".into(),
    }
}

/// Asserts that neither the secret nor the ciphertext shows in `text`.
fn assert_no_secret(text: &str) {
    assert!(!text.contains(SECRET), "{text}");
    assert!(!text.contains(&B64.encode(SECRET)), "{text}");
    assert!(!text.contains(&B64.encode(BLOB)), "{text}");
}

fn assert_kms_request(r: &Recorded, target: &str) {
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/"));
    assert_eq!(r.header("x-amz-target"), Some(target));
    assert_eq!(r.header("content-type"), Some("application/x-amz-json-1.1"));
    let auth = r.header("authorization").unwrap();
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDLOOPBACKTEST/")
            && auth.contains("/us-east-1/kms/aws4_request"),
        "{auth}"
    );
}

#[tokio::test]
async fn seal_sends_one_encrypt_with_the_owner_as_encryption_context() {
    let server = Server::start(|_: &Recorded| {
        kms_json(
            200,
            json!({
                "CiphertextBlob": B64.encode(BLOB),
                "KeyId": KEY_ARN,
                "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
            }),
        )
    })
    .await;
    let sealer = sealer_for(&server).await;

    let sealed = sealer.seal(SECRET, &owner()).await.unwrap();

    let requests = server.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_kms_request(&requests[0], "TrentService.Encrypt");
    assert_eq!(
        requests[0].json(),
        json!({
            "KeyId": KEY_ALIAS,
            "Plaintext": B64.encode(SECRET),
            "EncryptionContext": {"account_id": "acct_01", "profile_id": "vp_01"},
        })
    );
    assert_eq!(sealed, kms_sealed());
    assert_eq!(sealed.masked, "…9f3a");
    assert_no_secret(&format!("{sealed:?}"));
}

#[tokio::test]
async fn open_sends_one_decrypt_with_the_blob_the_key_and_the_same_context() {
    let server = Server::start(|_: &Recorded| {
        kms_json(
            200,
            json!({
                "Plaintext": B64.encode(SECRET),
                "KeyId": KEY_ARN,
                "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
            }),
        )
    })
    .await;
    let sealer = sealer_for(&server).await;

    let plain = sealer.open(&kms_sealed(), &owner()).await.unwrap();

    assert_eq!(plain.expose(), SECRET);
    let requests = server.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_kms_request(&requests[0], "TrentService.Decrypt");
    assert_eq!(
        requests[0].json(),
        json!({
            "KeyId": KEY_ALIAS,
            "CiphertextBlob": B64.encode(BLOB),
            "EncryptionContext": {"account_id": "acct_01", "profile_id": "vp_01"},
        })
    );
}

/// A KMS that keeps what it encrypted, with its context, and decrypts only under the
/// same context (as KMS does: otherwise `InvalidCiphertextException`).
fn fake_kms() -> impl Fn(&Recorded) -> Canned + Send + Sync + 'static {
    let store: Mutex<HashMap<String, (Value, Value)>> = Mutex::new(HashMap::new());
    move |r: &Recorded| {
        let body = r.json();
        let mut store = store.lock().unwrap();
        match r.header("x-amz-target") {
            Some("TrentService.Encrypt") => {
                let blob = B64.encode(format!("blob-{}", store.len()));
                store.insert(
                    blob.clone(),
                    (body["Plaintext"].clone(), body["EncryptionContext"].clone()),
                );
                kms_json(200, json!({"CiphertextBlob": blob, "KeyId": KEY_ARN}))
            }
            Some("TrentService.Decrypt") => {
                let blob = body["CiphertextBlob"].as_str().unwrap_or_default();
                match store.get(blob) {
                    Some((plain, ctx)) if *ctx == body["EncryptionContext"] => {
                        kms_json(200, json!({"Plaintext": plain, "KeyId": KEY_ARN}))
                    }
                    _ => kms_error(400, "InvalidCiphertextException"),
                }
            }
            other => panic!("unexpected target {other:?}"),
        }
    }
}

#[tokio::test]
async fn sealed_secret_opens_only_for_its_owner() {
    let server = Server::start(fake_kms()).await;
    let sealer = sealer_for(&server).await;
    let sealer: &dyn SecretSealer = &sealer;

    let sealed = sealer.seal(SECRET, &owner()).await.unwrap();
    assert_eq!(
        sealer.open(&sealed, &owner()).await.unwrap().expose(),
        SECRET
    );
    for other in [
        SecretOwner::new("acct_02", "vp_01"),
        SecretOwner::new("acct_01", "vp_02"),
    ] {
        let err = sealer.open(&sealed, &other).await.unwrap_err();
        assert!(matches!(err, SecretError::OpenFailed), "{err:?}");
    }
    assert_eq!(server.requests().len(), 4);
}

#[tokio::test]
async fn invalid_ciphertext_incorrect_key_and_access_denied_fail_to_open() {
    for code in [
        "InvalidCiphertextException",
        "IncorrectKeyException",
        "AccessDeniedException",
    ] {
        let server = Server::start(move |_: &Recorded| kms_error(400, code)).await;
        let sealer = sealer_for(&server).await;
        let err = sealer.open(&kms_sealed(), &owner()).await.unwrap_err();
        assert!(matches!(err, SecretError::OpenFailed), "{code}: {err:?}");
        assert_no_secret(&format!("{err:?} {err}"));
        assert_eq!(server.requests().len(), 1);
    }
}

#[tokio::test]
async fn throttling_and_internal_errors_are_backend_errors_without_the_secret() {
    let cases = [
        (400, "ThrottlingException", "KMS ThrottlingException"),
        (500, "KMSInternalException", "KMS KMSInternalException"),
        (400, "NotFoundException", "KMS NotFoundException"),
        (400, "DisabledException", "KMS DisabledException"),
    ];
    for (status, code, expected) in cases {
        let server = Server::start(move |_: &Recorded| kms_error(status, code)).await;
        let sealer = sealer_for(&server).await;

        let err = sealer.open(&kms_sealed(), &owner()).await.unwrap_err();
        assert!(
            matches!(&err, SecretError::Backend(m) if m == expected),
            "{err:?}"
        );
        assert_no_secret(&format!("{err:?} {err}"));

        let err = sealer.seal(SECRET, &owner()).await.unwrap_err();
        assert!(
            matches!(&err, SecretError::Backend(m) if m == expected),
            "{err:?}"
        );
        assert_no_secret(&format!("{err:?} {err}"));
        // Retries are off: one request each.
        assert_eq!(server.requests().len(), 2);
    }
}

#[tokio::test]
async fn a_bare_500_and_an_unreachable_endpoint_are_backend_errors() {
    let server = Server::start(|_: &Recorded| Canned {
        status: 500,
        headers: vec![],
        body: Vec::new(),
    })
    .await;
    let sealer = sealer_for(&server).await;
    let err = sealer.open(&kms_sealed(), &owner()).await.unwrap_err();
    assert!(
        matches!(&err, SecretError::Backend(m) if m.starts_with("KMS ")),
        "{err:?}"
    );
    assert_no_secret(&format!("{err:?} {err}"));

    // A loopback port nobody listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let client = aws_sdk_kms::Client::new(&sdk_config(&endpoint).await);
    let sealer = KmsSealer::new(client, KEY_ALIAS);
    let err = sealer.seal(SECRET, &owner()).await.unwrap_err();
    assert!(
        matches!(&err, SecretError::Backend(m) if m == "KMS unreachable"),
        "{err:?}"
    );
    let err = sealer.open(&kms_sealed(), &owner()).await.unwrap_err();
    assert!(
        matches!(&err, SecretError::Backend(m) if m == "KMS unreachable"),
        "{err:?}"
    );
    assert_no_secret(&format!("{err:?} {err}"));
}

#[tokio::test]
async fn locally_sealed_secrets_are_refused_without_a_request_and_vice_versa() {
    let server = Server::start(unexpected).await;
    let sealer = sealer_for(&server).await;
    let local = LocalKeySealer::from_key(&[7u8; 32]).unwrap();

    let sealed = local.seal_sync(SECRET, &owner()).unwrap();
    let err = sealer.open(&sealed, &owner()).await.unwrap_err();
    match &err {
        SecretError::WrongKey { expected, found } => {
            assert_eq!(expected, &format!("kms:{KEY_ALIAS}"));
            assert_eq!(found, local.key_id());
        }
        other => panic!("{other:?}"),
    }
    assert_no_secret(&format!("{err:?} {err}"));

    // And the local sealer refuses a KMS-sealed secret as another key's.
    let err = local.open_sync(&kms_sealed(), &owner()).unwrap_err();
    assert!(matches!(err, SecretError::WrongKey { .. }), "{err:?}");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn malformed_kms_sealed_secrets_are_refused_without_a_request() {
    let server = Server::start(unexpected).await;
    let sealer = sealer_for(&server).await;
    let cases = [
        SealedSecret {
            ciphertext_b64: "not base64!".into(),
            ..kms_sealed()
        },
        SealedSecret {
            ciphertext_b64: String::new(),
            ..kms_sealed()
        },
        SealedSecret {
            nonce_b64: B64.encode([0u8; 12]),
            ..kms_sealed()
        },
        SealedSecret {
            ciphertext_b64: B64.encode(vec![1u8; 6145]),
            ..kms_sealed()
        },
    ];
    for sealed in cases {
        let err = sealer.open(&sealed, &owner()).await.unwrap_err();
        assert!(matches!(err, SecretError::Malformed(_)), "{err:?}");
    }
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn over_long_and_empty_secrets_are_refused_without_a_request() {
    let server = Server::start(unexpected).await;
    let sealer = sealer_for(&server).await;
    let long = "k".repeat(4097);
    let err = sealer.seal(&long, &owner()).await.unwrap_err();
    assert!(matches!(err, SecretError::TooLong), "{err:?}");
    assert!(!format!("{err:?} {err}").contains(&long));
    let err = sealer.seal("", &owner()).await.unwrap_err();
    assert!(matches!(err, SecretError::SealFailed), "{err:?}");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn debug_of_the_sealer_shows_the_key_and_nothing_of_the_client() {
    let server = Server::start(unexpected).await;
    let sealer = sealer_for(&server).await;
    let debug = format!("{sealer:?}");
    assert_eq!(debug, format!("KmsSealer {{ key_id: {KEY_ALIAS:?}, .. }}"));
    assert!(!debug.contains("loopback-secret"), "{debug}");
    assert_no_secret(&debug);
    assert_eq!(sealer.key_id(), KEY_ALIAS);
}
