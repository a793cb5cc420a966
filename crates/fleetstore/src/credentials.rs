//! Credentials: user API tokens (`pwu_`), the fleet's enrolment tokens (`pwe_`) and
//! agent credentials (`pwa_`). A secret is its prefix and 32 random bytes in hex; the
//! store keeps only SHA-256 of the whole string, and finds a secret by indexed equality
//! on that hash. Timing of the lookup can only reveal bits of a hash of an unknown
//! 256-bit secret, which does not help guess the secret.

use crate::codec::{rfc3339, unix};
use crate::error::{SqlContext, StoreError};
use crate::{CredentialInfo, Principal, Store};
use postwatch_model::fleet::EnrolResponse;
use rusqlite::{params, OptionalExtension};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

const SECRET_BYTES: usize = 32;
const AGENT_ID_BYTES: usize = 12;
/// Longest token name or hostname accepted.
const MAX_NAME: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    User,
    Agent,
    Enrolment,
}

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Kind::User => "pwu_",
            Kind::Agent => "pwa_",
            Kind::Enrolment => "pwe_",
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::Agent => "agent",
            Kind::Enrolment => "enrolment",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        match s {
            "user" => Some(Kind::User),
            "agent" => Some(Kind::Agent),
            "enrolment" => Some(Kind::Enrolment),
            _ => None,
        }
    }

    /// The kind a presented secret claims, when it is well-formed at all.
    fn of_secret(secret: &str) -> Option<Kind> {
        let kind = [Kind::User, Kind::Agent, Kind::Enrolment]
            .into_iter()
            .find(|k| secret.starts_with(k.prefix()))?;
        let body = &secret[kind.prefix().len()..];
        (body.len() == SECRET_BYTES * 2 && body.bytes().all(|b| b.is_ascii_hexdigit()))
            .then_some(kind)
    }
}

fn random_hex(n: usize) -> Result<String, StoreError> {
    let mut bytes = vec![0u8; n];
    getrandom::getrandom(&mut bytes).map_err(|e| StoreError::Random(e.to_string()))?;
    Ok(hex::encode(bytes))
}

fn new_secret(kind: Kind) -> Result<String, StoreError> {
    Ok(format!("{}{}", kind.prefix(), random_hex(SECRET_BYTES)?))
}

fn secret_hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

fn check_name(what: &'static str, name: &str) -> Result<(), StoreError> {
    if name.trim().is_empty() {
        return Err(StoreError::invalid(what, "empty"));
    }
    if name.len() > MAX_NAME {
        return Err(StoreError::invalid(
            what,
            format!("{} bytes, at most {MAX_NAME}", name.len()),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(StoreError::invalid(what, "contains control characters"));
    }
    Ok(())
}

impl Store {
    /// Creates a user API token; returns the secret, which is not stored and cannot be
    /// shown again.
    pub fn create_api_token(&self, name: &str) -> Result<String, StoreError> {
        self.create_token(Kind::User, name)
    }

    /// Creates an enrolment token (agents present it once to get their own credential);
    /// returns the secret once.
    pub fn create_enrolment_token(&self, name: &str) -> Result<String, StoreError> {
        self.create_token(Kind::Enrolment, name)
    }

    fn create_token(&self, kind: Kind, name: &str) -> Result<String, StoreError> {
        check_name("token name", name)?;
        let secret = new_secret(kind)?;
        let hash = secret_hash(&secret);
        let now = unix(OffsetDateTime::now_utc());
        self.write("creating a token", |tx| {
            tx.prepare_cached(
                "INSERT INTO credentials(hash, kind, name, agent_id, created_at)
                 VALUES (?1, ?2, ?3, NULL, ?4)",
            )
            .and_then(|mut st| st.execute(params![hash, kind.as_str(), name, now]))
            .ctx_with(|| format!("storing {} token {name:?}", kind.as_str()))?;
            Ok(())
        })?;
        Ok(secret)
    }

    /// Exchanges a valid enrolment token for a new agent's credential. `None`: the token
    /// is unknown, revoked or not an enrolment token.
    pub fn enrol_agent(
        &self,
        enrolment_secret: &str,
        hostname: &str,
    ) -> Result<Option<EnrolResponse>, StoreError> {
        check_name("hostname", hostname)?;
        if Kind::of_secret(enrolment_secret) != Some(Kind::Enrolment) {
            return Ok(None);
        }
        let enrolment_hash = secret_hash(enrolment_secret);
        let agent_id = format!("agent-{}", random_hex(AGENT_ID_BYTES)?);
        let credential = new_secret(Kind::Agent)?;
        let hash = secret_hash(&credential);
        let now = unix(OffsetDateTime::now_utc());
        let enrolled = self.write("enrolling an agent", |tx| {
            let valid = tx
                .prepare_cached(
                    "SELECT 1 FROM credentials
                     WHERE hash = ?1 AND kind = 'enrolment' AND revoked_at IS NULL",
                )
                .and_then(|mut st| st.query_row([&enrolment_hash], |_| Ok(())).optional())
                .ctx("looking up the enrolment token")?
                .is_some();
            if !valid {
                return Ok(false);
            }
            tx.prepare_cached(
                "INSERT INTO credentials(hash, kind, name, agent_id, created_at)
                 VALUES (?1, 'agent', ?2, ?3, ?4)",
            )
            .and_then(|mut st| st.execute(params![hash, hostname, agent_id, now]))
            .ctx_with(|| format!("storing the credential of agent {agent_id} ({hostname})"))?;
            Ok(true)
        })?;
        Ok(enrolled.then_some(EnrolResponse {
            agent_id,
            credential,
        }))
    }

    /// Who a bearer secret belongs to; `None` for anything unknown, revoked or malformed.
    pub fn authenticate(&self, secret: &str) -> Result<Option<Principal>, StoreError> {
        let Some(claimed) = Kind::of_secret(secret) else {
            return Ok(None);
        };
        let hash = secret_hash(secret);
        let row = self.read(|tx| {
            tx.prepare_cached(
                "SELECT kind, name, agent_id FROM credentials
                 WHERE hash = ?1 AND revoked_at IS NULL",
            )
            .and_then(|mut st| {
                st.query_row([&hash], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<String>>(2)?,
                    ))
                })
                .optional()
            })
            .ctx("looking up a credential")
        })?;
        let Some((kind, name, agent_id)) = row else {
            return Ok(None);
        };
        let stored = Kind::parse(&kind)
            .ok_or_else(|| StoreError::corrupt("credential kind", format!("{kind:?}")))?;
        if stored != claimed {
            return Ok(None);
        }
        Ok(Some(match stored {
            Kind::User => Principal::User { name },
            Kind::Enrolment => Principal::Enrolment,
            Kind::Agent => Principal::Agent {
                agent_id: agent_id.ok_or_else(|| {
                    StoreError::corrupt("agent credential", format!("{name}: no agent id"))
                })?,
                hostname: name,
            },
        }))
    }

    /// Revokes every user API token and enrolment token with this name; returns how many.
    pub fn revoke_token(&self, name: &str) -> Result<u64, StoreError> {
        let now = unix(OffsetDateTime::now_utc());
        self.write("revoking a token", |tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE credentials SET revoked_at = ?2
                     WHERE name = ?1 AND kind IN ('user', 'enrolment') AND revoked_at IS NULL",
                )
                .and_then(|mut st| st.execute(params![name, now]))
                .ctx_with(|| format!("revoking tokens named {name:?}"))?;
            Ok(n as u64)
        })
    }

    /// Revokes an agent's credential; false when no active agent has that id.
    pub fn revoke_agent(&self, agent_id: &str) -> Result<bool, StoreError> {
        let now = unix(OffsetDateTime::now_utc());
        self.write("revoking an agent", |tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE credentials SET revoked_at = ?2
                     WHERE agent_id = ?1 AND revoked_at IS NULL",
                )
                .and_then(|mut st| st.execute(params![agent_id, now]))
                .ctx_with(|| format!("revoking agent {agent_id}"))?;
            Ok(n > 0)
        })
    }

    /// Every credential (never the secrets), oldest first.
    pub fn credentials(&self) -> Result<Vec<CredentialInfo>, StoreError> {
        self.read(|tx| {
            let mut st = tx
                .prepare_cached(
                    "SELECT kind, name, agent_id, created_at, revoked_at FROM credentials
                     ORDER BY created_at, name",
                )
                .ctx("listing credentials")?;
            let rows = st
                .query_map([], |r| {
                    Ok(CredentialInfo {
                        kind: r.get(0)?,
                        name: r.get(1)?,
                        agent_id: r.get(2)?,
                        created_at: rfc3339(r.get(3)?),
                        revoked_at: r.get::<_, Option<i64>>(4)?.map(rfc3339),
                    })
                })
                .ctx("listing credentials")?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
                .ctx("reading credentials")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_random_hex() {
        let a = new_secret(Kind::User).unwrap();
        let b = new_secret(Kind::User).unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("pwu_"));
        assert_eq!(a.len(), 4 + 64);
        assert_eq!(Kind::of_secret(&a), Some(Kind::User));
        assert_eq!(Kind::of_secret("pwu_abc"), None);
        assert_eq!(Kind::of_secret(&a.replace("pwu_", "pwx_")), None);
        let bad = format!("pwa_{}", "g".repeat(64));
        assert_eq!(Kind::of_secret(&bad), None);
    }
}
