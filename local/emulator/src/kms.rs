//! The KMS operations a license issuer uses (`X-Amz-Target: TrentService.<Operation>`,
//! awsJson1_1 on the same port): RSA signing keys for `Issuer.SignKey`, their public keys,
//! Sign / Verify (RSASSA-PSS with salt = digest length, as AWS KMS; RSASSA-PKCS1-v1_5),
//! ListKeys and aliases. Keys belong to the caller's account and live in the state file.

use crate::dispatch::{Ctx, Operation, parse, seq_key};
pub use crate::keys::{KmsAlias, KmsKey};
use crate::protocol::{ApiError, ErrorKind};
use aws_lc_rs::digest::{self, Digest};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{self, KeyPair as _, RsaEncoding, RsaParameters};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::{Value, json};

impl KmsKey {
    fn signing_algorithms(&self) -> Vec<&'static str> {
        if self.is_rsa_signing() {
            SIGNING_ALGORITHMS.iter().map(|a| a.name).collect()
        } else {
            Vec::new()
        }
    }

    fn encryption_algorithms(&self) -> Vec<&'static str> {
        match (self.key_spec.as_str(), self.key_usage.as_str()) {
            ("SYMMETRIC_DEFAULT", _) => vec!["SYMMETRIC_DEFAULT"],
            (_, "ENCRYPT_DECRYPT") => vec!["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"],
            _ => Vec::new(),
        }
    }

    /// The `KeyMetadata` structure of DescribeKey and CreateKey.
    fn metadata(&self) -> Value {
        let mut m = json!({
            "AWSAccountId": self.account,
            "KeyId": self.key_id,
            "Arn": self.arn,
            "CreationDate": self.created,
            "Enabled": true,
            "Description": self.description,
            "KeyUsage": self.key_usage,
            "KeyState": "Enabled",
            "Origin": "AWS_KMS",
            "KeyManager": "CUSTOMER",
            "CustomerMasterKeySpec": self.key_spec,
            "KeySpec": self.key_spec,
            "MultiRegion": false,
        });
        let signing = self.signing_algorithms();
        if !signing.is_empty() {
            m["SigningAlgorithms"] = json!(signing);
        }
        let encryption = self.encryption_algorithms();
        if !encryption.is_empty() {
            m["EncryptionAlgorithms"] = json!(encryption);
        }
        m
    }
}

/// An RSA signing algorithm of KMS.
pub struct SigningAlgorithm {
    /// KMS's name, e.g. `RSASSA_PSS_SHA_384`.
    pub name: &'static str,
    sign: &'static dyn RsaEncoding,
    verify: &'static RsaParameters,
    digest: &'static digest::Algorithm,
}

/// The RSA signing algorithms KMS offers (PSS salt = digest length).
pub const SIGNING_ALGORITHMS: &[SigningAlgorithm] = &[
    SigningAlgorithm {
        name: "RSASSA_PSS_SHA_256",
        sign: &signature::RSA_PSS_SHA256,
        verify: &signature::RSA_PSS_2048_8192_SHA256,
        digest: &digest::SHA256,
    },
    SigningAlgorithm {
        name: "RSASSA_PSS_SHA_384",
        sign: &signature::RSA_PSS_SHA384,
        verify: &signature::RSA_PSS_2048_8192_SHA384,
        digest: &digest::SHA384,
    },
    SigningAlgorithm {
        name: "RSASSA_PSS_SHA_512",
        sign: &signature::RSA_PSS_SHA512,
        verify: &signature::RSA_PSS_2048_8192_SHA512,
        digest: &digest::SHA512,
    },
    SigningAlgorithm {
        name: "RSASSA_PKCS1_V1_5_SHA_256",
        sign: &signature::RSA_PKCS1_SHA256,
        verify: &signature::RSA_PKCS1_2048_8192_SHA256,
        digest: &digest::SHA256,
    },
    SigningAlgorithm {
        name: "RSASSA_PKCS1_V1_5_SHA_384",
        sign: &signature::RSA_PKCS1_SHA384,
        verify: &signature::RSA_PKCS1_2048_8192_SHA384,
        digest: &digest::SHA384,
    },
    SigningAlgorithm {
        name: "RSASSA_PKCS1_V1_5_SHA_512",
        sign: &signature::RSA_PKCS1_SHA512,
        verify: &signature::RSA_PKCS1_2048_8192_SHA512,
        digest: &digest::SHA512,
    },
];

/// Every KeySpec of the KMS API (the emulator creates the RSA ones and SYMMETRIC_DEFAULT).
const KEY_SPECS: &[&str] = &[
    "SYMMETRIC_DEFAULT",
    "RSA_2048",
    "RSA_3072",
    "RSA_4096",
    "ECC_NIST_P256",
    "ECC_NIST_P384",
    "ECC_NIST_P521",
    "ECC_SECG_P256K1",
    "ECC_NIST_EDWARDS25519",
    "HMAC_224",
    "HMAC_256",
    "HMAC_384",
    "HMAC_512",
    "SM2",
    "ML_DSA_44",
    "ML_DSA_65",
    "ML_DSA_87",
];

/// Every KeyUsage of the KMS API.
const KEY_USAGES: &[&str] = &[
    "SIGN_VERIFY",
    "ENCRYPT_DECRYPT",
    "GENERATE_VERIFY_MAC",
    "KEY_AGREEMENT",
];

/// The KMS operations the emulator answers.
pub const OPERATIONS: &[Operation] = &[
    Operation::new("CreateKey", create_key, true),
    Operation::new("DescribeKey", describe_key, false),
    Operation::new("GetPublicKey", get_public_key, false),
    Operation::new("Sign", sign, false),
    Operation::new("Verify", verify, false),
    Operation::new("ListKeys", list_keys, false),
    Operation::new("CreateAlias", create_alias, true),
    Operation::new("DeleteAlias", delete_alias, true),
    Operation::new("ListAliases", list_aliases, false),
];

/// The implemented KMS operation called `name`.
pub fn find(name: &str) -> Option<&'static Operation> {
    OPERATIONS.iter().find(|o| o.name == name)
}

fn validation(message: impl Into<String>) -> ApiError {
    ApiError::validation(message)
}

fn one_of(member: &str, value: &str, allowed: &[&str]) -> Result<(), ApiError> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(validation(format!(
            "1 validation error detected: Value '{value}' at '{member}' failed to satisfy \
             constraint: Member must satisfy enum value set: [{}]",
            allowed.join(", ")
        )))
    }
}

fn key_not_found(what: &str) -> ApiError {
    ApiError::new(
        ErrorKind::KmsNotFound,
        format!("Key '{what}' does not exist"),
    )
}

/// The key `key_id` names for the caller (see [`resolve_in`]).
pub fn resolve<'a>(ctx: &'a Ctx<'_>, key_id: &str) -> Result<&'a KmsKey, ApiError> {
    resolve_in(ctx.state, ctx.region, ctx.account, key_id)
}

/// The key `key_id` names in `account`: a key id, a key ARN, `alias/<name>` or an alias
/// ARN. A key of another account is not found (the emulator has no key policies).
pub fn resolve_in<'a>(
    state: &'a crate::state::State,
    region: &str,
    account: &str,
    key_id: &str,
) -> Result<&'a KmsKey, ApiError> {
    let caller = account;
    let key_id = key_id.trim();
    if key_id.is_empty() {
        return Err(validation("KeyId must not be empty"));
    }
    let (region, account, id) = if let Some(rest) = key_id.strip_prefix("arn:") {
        // arn:<partition>:kms:<region>:<account>:key/<id> or :alias/<name>
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        match parts.as_slice() {
            [_, "kms", region, account, resource] => (*region, *account, *resource),
            _ => {
                return Err(ApiError::new(
                    ErrorKind::KmsNotFound,
                    format!("Invalid arn {key_id}"),
                ));
            }
        }
    } else {
        (region, caller, key_id)
    };
    if account != caller {
        return Err(key_not_found(key_id));
    }
    let id = match id.strip_prefix("key/") {
        Some(id) => id.to_string(),
        None if id.starts_with("alias/") => state
            .kms_aliases
            .get(&alias_key(account, id))
            .map(|a| a.target_key_id.clone())
            .ok_or_else(|| {
                ApiError::new(
                    ErrorKind::KmsNotFound,
                    format!("Alias arn:aws:kms:{region}:{account}:{id} is not found."),
                )
            })?,
        None => id.to_string(),
    };
    let arn = key_arn(region, account, &id);
    state.kms_keys.get(&arn).ok_or_else(|| key_not_found(&arn))
}

/// The ARN of key `id` of `account`.
pub fn key_arn(region: &str, account: &str, id: &str) -> String {
    format!("arn:aws:kms:{region}:{account}:key/{id}")
}

fn alias_key(account: &str, name: &str) -> String {
    format!("{account}/{name}")
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateKeyRequest {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    key_usage: Option<String>,
    #[serde(default)]
    customer_master_key_spec: Option<String>,
    #[serde(default)]
    key_spec: Option<String>,
    #[serde(default)]
    origin: Option<String>,
}

/// The member of a CreateKey request that carries the RSA key generated by
/// [`generate_outside_lock`] (base64 PKCS#8); never accepted from a client.
const MATERIAL: &str = "$license-manager-local:material";

/// The RSA key size a CreateKey request asks for, if any.
fn rsa_size(spec: &str) -> Option<KeySize> {
    match spec {
        "RSA_2048" => Some(KeySize::Rsa2048),
        "RSA_3072" => Some(KeySize::Rsa3072),
        "RSA_4096" => Some(KeySize::Rsa4096),
        _ => None,
    }
}

/// Prepares `input` of KMS operation `op` before the state is locked: CreateKey of an RSA
/// key generates it here (RSA-4096 takes seconds), so other requests are not held up.
pub async fn generate_outside_lock(op: &str, input: &mut Value) -> Result<(), ApiError> {
    let Value::Object(members) = input else {
        return Ok(());
    };
    members.remove(MATERIAL);
    if op != "CreateKey" {
        return Ok(());
    }
    let spec = ["KeySpec", "CustomerMasterKeySpec"]
        .iter()
        .find_map(|m| members.get(*m).and_then(Value::as_str));
    let Some(size) = spec.and_then(rsa_size) else {
        return Ok(());
    };
    let internal = || ApiError::new(ErrorKind::ServerInternal, "could not generate an RSA key");
    let encoded = tokio::task::spawn_blocking(move || {
        let pair = KeyPair::generate(size).ok()?;
        let der: aws_lc_rs::encoding::Pkcs8V1Der<'_> = pair.as_der().ok()?;
        Some(STANDARD.encode(der.as_ref()))
    })
    .await
    .ok()
    .flatten()
    .ok_or_else(internal)?;
    members.insert(MATERIAL.to_string(), Value::String(encoded));
    Ok(())
}

fn create_key(ctx: &mut Ctx<'_>, mut input: Value) -> Result<Value, ApiError> {
    let material = input.as_object_mut().and_then(|m| m.remove(MATERIAL));
    let input_material = material.as_ref().and_then(Value::as_str);
    let req: CreateKeyRequest = parse(input)?;
    if req.customer_master_key_spec.is_some() && req.key_spec.is_some() {
        return Err(validation(
            "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. \
             CustomerMasterKeySpec parameter is deprecated. Use KeySpec.",
        ));
    }
    let spec = req
        .key_spec
        .or(req.customer_master_key_spec)
        .unwrap_or_else(|| "SYMMETRIC_DEFAULT".into());
    one_of("keySpec", &spec, KEY_SPECS)?;
    let usage = req.key_usage.unwrap_or_else(|| "ENCRYPT_DECRYPT".into());
    one_of("keyUsage", &usage, KEY_USAGES)?;
    if let Some(origin) = req.origin.filter(|o| o != "AWS_KMS") {
        return Err(ApiError::new(
            ErrorKind::KmsUnsupportedOperation,
            format!("license-manager-local creates keys of Origin AWS_KMS only, not {origin}"),
        ));
    }
    let size = match spec.as_str() {
        "SYMMETRIC_DEFAULT" => None,
        rsa if rsa_size(rsa).is_some() => rsa_size(rsa),
        other => {
            return Err(ApiError::new(
                ErrorKind::KmsUnsupportedOperation,
                format!(
                    "license-manager-local creates SYMMETRIC_DEFAULT and RSA_2048 / RSA_3072 / \
                     RSA_4096 keys only, not {other}"
                ),
            ));
        }
    };
    let usage_fits = match size {
        None => usage == "ENCRYPT_DECRYPT",
        Some(_) => usage == "SIGN_VERIFY" || usage == "ENCRYPT_DECRYPT",
    };
    if !usage_fits {
        return Err(validation(format!(
            "KeyUsage {usage} is not compatible with KeySpec {spec}"
        )));
    }
    let private_key = match size {
        None => None,
        Some(_) => Some(
            input_material
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorKind::ServerInternal,
                        "no RSA key was generated for CreateKey",
                    )
                })?
                .to_string(),
        ),
    };
    let key_id = uuid::Uuid::new_v4().to_string();
    let arn = key_arn(ctx.region, ctx.account, &key_id);
    let key = KmsKey {
        account: ctx.account.to_string(),
        key_id,
        arn: arn.clone(),
        seq: ctx.state.next_seq(),
        created: ctx.now_unix(),
        description: req.description.unwrap_or_default(),
        key_spec: spec,
        key_usage: usage,
        private_key,
    };
    let metadata = key.metadata();
    ctx.state.kms_keys.insert(arn, key);
    Ok(json!({ "KeyMetadata": metadata }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KeyRequest {
    key_id: String,
}

fn describe_key(ctx: &mut Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: KeyRequest = parse(input)?;
    Ok(json!({ "KeyMetadata": resolve(ctx, &req.key_id)?.metadata() }))
}

fn get_public_key(ctx: &mut Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: KeyRequest = parse(input)?;
    let key = resolve(ctx, &req.key_id)?;
    if key.private_key.is_none() {
        return Err(ApiError::new(
            ErrorKind::KmsUnsupportedOperation,
            format!(
                "{} is not a valid KeyUsage/KeySpec for GetPublicKey: it is a symmetric key",
                key.arn
            ),
        ));
    }
    let pair = key.key_pair()?;
    let der: aws_lc_rs::encoding::PublicKeyX509Der<'_> = pair
        .public_key()
        .as_der()
        .map_err(|_| ApiError::new(ErrorKind::ServerInternal, "cannot encode the public key"))?;
    let mut out = json!({
        "KeyId": key.arn,
        "PublicKey": STANDARD.encode(der.as_ref()),
        "CustomerMasterKeySpec": key.key_spec,
        "KeySpec": key.key_spec,
        "KeyUsage": key.key_usage,
    });
    let signing = key.signing_algorithms();
    if !signing.is_empty() {
        out["SigningAlgorithms"] = json!(signing);
    }
    let encryption = key.encryption_algorithms();
    if !encryption.is_empty() {
        out["EncryptionAlgorithms"] = json!(encryption);
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SignRequest {
    key_id: String,
    message: String,
    #[serde(default)]
    message_type: Option<String>,
    signing_algorithm: String,
    #[serde(default)]
    signature: Option<String>,
}

/// What Sign and Verify share: the key, the algorithm and the digest of the message.
struct Prepared<'a> {
    key: &'a KmsKey,
    algorithm: &'static SigningAlgorithm,
    digest: Digest,
}

fn decode_blob(member: &str, value: &str) -> Result<Vec<u8>, ApiError> {
    STANDARD
        .decode(value)
        .map_err(|_| validation(format!("{member} is not valid base64")))
}

fn prepare<'a>(ctx: &'a Ctx<'_>, req: &SignRequest) -> Result<Prepared<'a>, ApiError> {
    let names: Vec<&str> = SIGNING_ALGORITHMS.iter().map(|a| a.name).collect();
    let all_algorithms = [
        names.as_slice(),
        &[
            "ECDSA_SHA_256",
            "ECDSA_SHA_384",
            "ECDSA_SHA_512",
            "SM2DSA",
            "ML_DSA_SHAKE_256",
            "ED25519_SHA_512",
            "ED25519_PH_SHA_512",
        ],
    ]
    .concat();
    one_of("signingAlgorithm", &req.signing_algorithm, &all_algorithms)?;
    let message_type = req.message_type.as_deref().unwrap_or("RAW");
    one_of(
        "messageType",
        message_type,
        &["RAW", "DIGEST", "EXTERNAL_MU"],
    )?;
    let message = decode_blob("Message", &req.message)?;
    if message.is_empty() || message.len() > 4096 {
        return Err(validation(
            "1 validation error detected: Value at 'message' failed to satisfy constraint: \
             Member must have length between 1 and 4096",
        ));
    }
    let key = resolve(ctx, &req.key_id)?;
    if key.key_usage != "SIGN_VERIFY" {
        return Err(ApiError::new(
            ErrorKind::KmsInvalidKeyUsage,
            format!(
                "{} key usage is {} which is not valid for {}.",
                key.arn, key.key_usage, ctx.operation
            ),
        ));
    }
    let algorithm = SIGNING_ALGORITHMS
        .iter()
        .find(|a| a.name == req.signing_algorithm)
        .filter(|_| key.is_rsa_signing())
        .ok_or_else(|| {
            ApiError::new(
                ErrorKind::KmsInvalidKeyUsage,
                format!(
                    "Algorithm {} is incompatible with key spec {}.",
                    req.signing_algorithm, key.key_spec
                ),
            )
        })?;
    let digest = match message_type {
        "RAW" => digest::digest(algorithm.digest, &message),
        "DIGEST" => Digest::import_less_safe(&message, algorithm.digest).map_err(|_| {
            validation(format!(
                "Digest is invalid length for algorithm {}: {} bytes given, {} expected",
                algorithm.name,
                message.len(),
                algorithm.digest.output_len()
            ))
        })?,
        other => {
            return Err(ApiError::new(
                ErrorKind::KmsUnsupportedOperation,
                format!("MessageType {other} is not supported by RSA keys"),
            ));
        }
    };
    Ok(Prepared {
        key,
        algorithm,
        digest,
    })
}

fn sign(ctx: &mut Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: SignRequest = parse(input)?;
    let p = prepare(ctx, &req)?;
    let signature = sign_digest(p.key, p.algorithm, &p.digest)?;
    Ok(json!({
        "KeyId": p.key.arn,
        "Signature": STANDARD.encode(signature),
        "SigningAlgorithm": p.algorithm.name,
    }))
}

/// Signs `digest` with `key` under `algorithm`.
fn sign_digest(
    key: &KmsKey,
    algorithm: &SigningAlgorithm,
    digest: &Digest,
) -> Result<Vec<u8>, ApiError> {
    let pair = key.key_pair()?;
    let mut signature = vec![0; pair.public_modulus_len()];
    pair.sign_digest(algorithm.sign, digest, &mut signature)
        .map_err(|_| ApiError::new(ErrorKind::ServerInternal, "signing failed"))?;
    Ok(signature)
}

fn verify(ctx: &mut Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: SignRequest = parse(input)?;
    let signature = req
        .signature
        .as_deref()
        .ok_or_else(|| validation("Signature is required"))
        .and_then(|s| decode_blob("Signature", s))?;
    let p = prepare(ctx, &req)?;
    let pair = p.key.key_pair()?;
    let public = signature::UnparsedPublicKey::new(p.algorithm.verify, pair.public_key().as_ref());
    public.verify_digest(&p.digest, &signature).map_err(|_| {
        ApiError::new(
            ErrorKind::KmsInvalidSignature,
            "The signature is not valid for this message, key and algorithm",
        )
    })?;
    Ok(json!({
        "KeyId": p.key.arn,
        "SignatureValid": true,
        "SigningAlgorithm": p.algorithm.name,
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListRequest {
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    marker: Option<String>,
    #[serde(default)]
    key_id: Option<String>,
}

const MARKER_PREFIX: &str = "kms1.";

/// One page of `items` (position key, item) after `marker`, as KMS lists: `Truncated` and
/// `NextMarker`.
fn kms_page(
    mut items: Vec<(String, Value)>,
    member: &str,
    limit: Option<i64>,
    marker: Option<&str>,
) -> Result<Value, ApiError> {
    let limit = match limit {
        None => 100,
        Some(n @ 1..=1000) => usize::try_from(n).unwrap_or(100),
        Some(n) => {
            return Err(validation(format!(
                "1 validation error detected: Value '{n}' at 'limit' failed to satisfy \
                 constraint: Member must have value between 1 and 1000"
            )));
        }
    };
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let start = match marker {
        None => 0,
        Some(m) => {
            let after = m.strip_prefix(MARKER_PREFIX).ok_or_else(|| {
                ApiError::new(
                    ErrorKind::KmsInvalidMarker,
                    format!("Marker '{m}' is invalid"),
                )
            })?;
            items.partition_point(|(k, _)| k.as_str() <= after)
        }
    };
    let rest: Vec<(String, Value)> = items.into_iter().skip(start).collect();
    let truncated = rest.len() > limit;
    let chosen: Vec<(String, Value)> = rest.into_iter().take(limit).collect();
    let mut out = json!({ "Truncated": truncated });
    if truncated && let Some((last, _)) = chosen.last() {
        out["NextMarker"] = json!(format!("{MARKER_PREFIX}{last}"));
    }
    out[member] = Value::Array(chosen.into_iter().map(|(_, v)| v).collect());
    Ok(out)
}

fn list_keys(ctx: &mut Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: ListRequest = parse(input)?;
    let items = ctx
        .state
        .kms_keys
        .values()
        .filter(|k| k.account == ctx.account)
        .map(|k| {
            (
                seq_key(k.seq),
                json!({ "KeyId": k.key_id, "KeyArn": k.arn }),
            )
        })
        .collect();
    kms_page(items, "Keys", req.limit, req.marker.as_deref())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AliasRequest {
    alias_name: String,
    #[serde(default)]
    target_key_id: Option<String>,
}

fn check_alias_name(name: &str) -> Result<(), ApiError> {
    let rest = name.strip_prefix("alias/").unwrap_or("");
    let valid = !rest.is_empty()
        && name.len() <= 256
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-'));
    if !valid {
        return Err(validation(format!(
            "1 validation error detected: Value '{name}' at 'aliasName' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: ^alias/[a-zA-Z0-9/_-]+$"
        )));
    }
    if rest.starts_with("aws/") {
        return Err(ApiError::new(
            ErrorKind::KmsInvalidAliasName,
            format!("Alias {name} must not begin with alias/aws/, reserved for AWS managed keys"),
        ));
    }
    Ok(())
}

fn create_alias(ctx: &mut Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: AliasRequest = parse(input)?;
    check_alias_name(&req.alias_name)?;
    let target = req
        .target_key_id
        .ok_or_else(|| validation("TargetKeyId is required"))?;
    if target.starts_with("alias/") || target.contains(":alias/") {
        return Err(validation("TargetKeyId must name a key, not an alias"));
    }
    let key_id = resolve(ctx, &target)?.key_id.clone();
    let id = alias_key(ctx.account, &req.alias_name);
    if ctx.state.kms_aliases.contains_key(&id) {
        return Err(ApiError::new(
            ErrorKind::KmsAlreadyExists,
            format!(
                "An alias with the name arn:aws:kms:{}:{}:{} already exists",
                ctx.region, ctx.account, req.alias_name
            ),
        ));
    }
    let alias = KmsAlias {
        account: ctx.account.to_string(),
        name: req.alias_name,
        target_key_id: key_id,
        seq: ctx.state.next_seq(),
        created: ctx.now_unix(),
    };
    ctx.state.kms_aliases.insert(id, alias);
    Ok(json!({}))
}

fn delete_alias(ctx: &mut Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: AliasRequest = parse(input)?;
    check_alias_name(&req.alias_name)?;
    ctx.state
        .kms_aliases
        .remove(&alias_key(ctx.account, &req.alias_name))
        .ok_or_else(|| {
            ApiError::new(
                ErrorKind::KmsNotFound,
                format!(
                    "Alias arn:aws:kms:{}:{}:{} is not found.",
                    ctx.region, ctx.account, req.alias_name
                ),
            )
        })?;
    Ok(json!({}))
}

fn list_aliases(ctx: &mut Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: ListRequest = parse(input)?;
    let only = match &req.key_id {
        Some(k) => Some(resolve(ctx, k)?.key_id.clone()),
        None => None,
    };
    let items = ctx
        .state
        .kms_aliases
        .values()
        .filter(|a| a.account == ctx.account)
        .filter(|a| only.as_ref().is_none_or(|k| *k == a.target_key_id))
        .map(|a| {
            (
                seq_key(a.seq),
                json!({
                    "AliasName": a.name,
                    "AliasArn": format!("arn:aws:kms:{}:{}:{}", ctx.region, a.account, a.name),
                    "TargetKeyId": a.target_key_id,
                    "CreationDate": a.created,
                    "LastUpdatedDate": a.created,
                }),
            )
        })
        .collect();
    kms_page(items, "Aliases", req.limit, req.marker.as_deref())
}

/// The key `sign_key` (an `Issuer.SignKey`) names, when it may sign licenses: an existing
/// asymmetric SIGN_VERIFY key of the caller's account supporting RSASSA_PSS_SHA_256.
pub fn license_sign_key<'a>(ctx: &'a Ctx<'_>, sign_key: &str) -> Result<&'a KmsKey, ApiError> {
    let key = resolve(ctx, sign_key).map_err(|e| {
        ApiError::invalid(format!(
            "Issuer.SignKey '{sign_key}' does not name a KMS key of account {}: {}",
            ctx.account, e.message
        ))
    })?;
    if !key.is_rsa_signing() {
        return Err(ApiError::invalid(format!(
            "Issuer.SignKey '{sign_key}' must be an asymmetric KMS key with KeyUsage \
             SIGN_VERIFY that supports RSASSA_PSS_SHA_256; {} is a {} key with KeyUsage {}",
            key.arn, key.key_spec, key.key_usage
        )));
    }
    Ok(key)
}
