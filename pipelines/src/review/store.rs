//! The review database: officers, sessions, login attempts, adjudications and the photo-view
//! log. SQLite (bundled) by default; the schema uses only types and constraints Postgres
//! shares, so a Postgres deployment can run the same DDL (with `BIGINT GENERATED ALWAYS AS
//! IDENTITY` for the `id` columns and `REVOKE UPDATE, DELETE` instead of the triggers).
//!
//! Adjudications and photo views are append-only: the triggers refuse UPDATE and DELETE, so a
//! changed decision is a new row and the latest row of a request decides.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;

/// The schema, applied on open (idempotent).
pub const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS officer (
    officer_id     TEXT PRIMARY KEY,
    password_hash  TEXT NOT NULL,              -- Argon2id, PHC string format
    provinces      TEXT NOT NULL,              -- comma-separated 2-digit codes, or '*'
    created_at_ms  BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS session (
    token_sha256   TEXT PRIMARY KEY,           -- the cookie holds the token, the table its hash
    officer_id     TEXT NOT NULL REFERENCES officer (officer_id),
    csrf_token     TEXT NOT NULL,
    created_at_ms  BIGINT NOT NULL,
    expires_at_ms  BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS login_attempt (
    id             INTEGER PRIMARY KEY,
    officer_id     TEXT NOT NULL,              -- as typed (bounded), known or not
    at_ms          BIGINT NOT NULL,
    succeeded      BOOLEAN NOT NULL
);
CREATE INDEX IF NOT EXISTS login_attempt_by_officer ON login_attempt (officer_id, at_ms);
CREATE TABLE IF NOT EXISTS adjudication (
    id               INTEGER PRIMARY KEY,
    run_id           TEXT NOT NULL,
    request_id       TEXT NOT NULL,
    officer_id       TEXT NOT NULL REFERENCES officer (officer_id),
    decided_at_ms    BIGINT NOT NULL,
    engine_decision  TEXT NOT NULL,            -- match / no_match / rejected
    engine_reason    TEXT NOT NULL,            -- the review queue's reason
    engine_score     REAL,
    threshold        REAL NOT NULL,
    officer_decision TEXT NOT NULL CHECK (officer_decision IN ('approve', 'reject', 'in_person')),
    comment          TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS adjudication_by_request ON adjudication (run_id, request_id, id);
CREATE TABLE IF NOT EXISTS photo_view (
    id             INTEGER PRIMARY KEY,
    officer_id     TEXT NOT NULL REFERENCES officer (officer_id),
    viewed_at_ms   BIGINT NOT NULL,
    run_id         TEXT NOT NULL,
    request_id     TEXT NOT NULL,
    photo          TEXT NOT NULL CHECK (photo IN ('selfie', 'ktp_el'))
);
CREATE TRIGGER IF NOT EXISTS adjudication_no_update BEFORE UPDATE ON adjudication
    BEGIN SELECT RAISE(ABORT, 'adjudications are append-only'); END;
CREATE TRIGGER IF NOT EXISTS adjudication_no_delete BEFORE DELETE ON adjudication
    BEGIN SELECT RAISE(ABORT, 'adjudications are append-only'); END;
CREATE TRIGGER IF NOT EXISTS photo_view_no_update BEFORE UPDATE ON photo_view
    BEGIN SELECT RAISE(ABORT, 'the photo-view log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS photo_view_no_delete BEFORE DELETE ON photo_view
    BEGIN SELECT RAISE(ABORT, 'the photo-view log is append-only'); END;
"#;

/// Failed logins of one officer id within [`LOCKOUT_WINDOW_MS`] after which logins are refused
/// without looking at the password.
pub const MAX_FAILED_LOGINS: i64 = 5;
pub const LOCKOUT_WINDOW_MS: i64 = 15 * 60 * 1000;
/// How long a session lasts.
pub const SESSION_MS: i64 = 8 * 3600 * 1000;

/// What an officer may decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfficerDecision {
    /// The same person: issue the credential.
    Approve,
    /// A different person, or fraud suspected.
    Reject,
    /// Call the citizen to the office.
    InPerson,
}

impl OfficerDecision {
    pub fn as_str(self) -> &'static str {
        match self {
            OfficerDecision::Approve => "approve",
            OfficerDecision::Reject => "reject",
            OfficerDecision::InPerson => "in_person",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "approve" => Some(OfficerDecision::Approve),
            "reject" => Some(OfficerDecision::Reject),
            "in_person" => Some(OfficerDecision::InPerson),
            _ => None,
        }
    }
}

/// Which provinces an officer may see and decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provinces {
    All,
    Only(Vec<u8>),
}

impl Provinces {
    /// `*` or a comma-separated list of 2-digit province codes (`31,32`).
    pub fn parse(s: &str) -> Result<Provinces, String> {
        let s = s.trim();
        if s == "*" {
            return Ok(Provinces::All);
        }
        let mut codes = Vec::new();
        for part in s.split(',') {
            let p = part.trim();
            match p.parse::<u8>() {
                Ok(c) if p.len() == 2 && (11..=99).contains(&c) => codes.push(c),
                _ => {
                    return Err(format!(
                        "{p:?} is not a 2-digit province code (e.g. 31 for DKI Jakarta)"
                    ))
                }
            }
        }
        codes.sort_unstable();
        codes.dedup();
        Ok(Provinces::Only(codes))
    }

    /// Whether a row of this province (`None`: the NIK is invalid) is in the officer's area.
    /// Rows without a valid NIK belong to no province: only officers of all provinces see them.
    pub fn allows(&self, province: Option<u8>) -> bool {
        match (self, province) {
            (Provinces::All, _) => true,
            (Provinces::Only(list), Some(p)) => list.contains(&p),
            (Provinces::Only(_), None) => false,
        }
    }

    pub fn to_db(&self) -> String {
        match self {
            Provinces::All => "*".into(),
            Provinces::Only(list) => list.iter().map(|c| format!("{c:02}")).collect::<Vec<_>>().join(","),
        }
    }
}

/// A logged-in officer.
#[derive(Debug, Clone)]
pub struct Officer {
    pub officer_id: String,
    pub provinces: Provinces,
}

/// A session as the web layer sees it.
#[derive(Debug, Clone)]
pub struct Session {
    pub officer: Officer,
    pub csrf_token: String,
}

/// One stored decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Adjudication {
    pub id: i64,
    pub run_id: String,
    pub request_id: String,
    pub officer_id: String,
    pub decided_at_ms: i64,
    pub engine_decision: String,
    pub engine_reason: String,
    pub engine_score: Option<f32>,
    pub threshold: f32,
    pub officer_decision: String,
    pub comment: String,
}

/// One entry of the photo-view log: who was shown which photo of which request, when.
#[derive(Debug, Clone, PartialEq)]
pub struct PhotoView {
    pub officer_id: String,
    pub viewed_at_ms: i64,
    pub run_id: String,
    pub request_id: String,
    /// `selfie` or `ktp_el`.
    pub photo: String,
}

/// A decision to record.
pub struct NewAdjudication<'a> {
    pub run_id: &'a str,
    pub request_id: &'a str,
    pub officer_id: &'a str,
    pub engine_decision: &'a str,
    pub engine_reason: &'a str,
    pub engine_score: Option<f32>,
    pub threshold: f32,
    pub decision: OfficerDecision,
    pub comment: &'a str,
}

/// Why a login did not succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginRefused {
    /// Unknown officer or wrong password (the page does not say which).
    BadCredentials,
    /// Too many failures recently: refused without checking the password.
    RateLimited,
}

pub struct Store {
    conn: Connection,
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn sha256_hex(s: &str) -> String {
    ikd_engine::sha256_hex(s.as_bytes())
}

/// 32 random bytes as hex (session and CSRF tokens).
pub fn random_token() -> anyhow::Result<String> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| anyhow::anyhow!("the system random generator failed"))?;
    Ok(ikd_engine::hex(&bytes))
}

impl Store {
    /// Opens (or creates, mode 0600) the database and applies the schema.
    pub fn open(path: &Path) -> anyhow::Result<Store> {
        if !path.exists() {
            crate::batch::create_file(path, Some(0o600))?;
        }
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Store { conn })
    }

    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Adds an officer (refuses an existing id unless `replace`: then the password and the
    /// provinces change; the officer's decisions stay).
    pub fn add_officer(
        &self,
        officer_id: &str,
        password: &str,
        provinces: &Provinces,
        replace: bool,
    ) -> anyhow::Result<()> {
        if officer_id.is_empty()
            || officer_id.len() > 64
            || !officer_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c))
        {
            anyhow::bail!("an officer id is 1 to 64 characters of letters, digits and . _ - @");
        }
        if password.chars().count() < 12 {
            anyhow::bail!("a password needs at least 12 characters");
        }
        let salt = SaltString::generate(&mut OsRng);
        let hash = Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))?
            .to_string();
        let sql = if replace {
            "INSERT INTO officer (officer_id, password_hash, provinces, created_at_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (officer_id) DO UPDATE SET password_hash = excluded.password_hash, provinces = excluded.provinces"
        } else {
            "INSERT INTO officer (officer_id, password_hash, provinces, created_at_ms) VALUES (?1, ?2, ?3, ?4)"
        };
        match self
            .conn
            .execute(sql, params![officer_id, hash, provinces.to_db(), now_ms()])
        {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::ConstraintViolation => {
                anyhow::bail!("officer {officer_id} exists already (--replace changes the password and provinces)")
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Checks a login; records the attempt; creates a session on success (returns its token).
    pub fn login(&self, officer_id: &str, password: &str) -> anyhow::Result<Result<String, LoginRefused>> {
        let id: String = officer_id.chars().take(64).collect();
        let now = now_ms();
        let failures: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM login_attempt WHERE officer_id = ?1 AND succeeded = 0 AND at_ms > ?2",
            params![id, now - LOCKOUT_WINDOW_MS],
            |r| r.get(0),
        )?;
        if failures >= MAX_FAILED_LOGINS {
            self.conn.execute(
                "INSERT INTO login_attempt (officer_id, at_ms, succeeded) VALUES (?1, ?2, 0)",
                params![id, now],
            )?;
            return Ok(Err(LoginRefused::RateLimited));
        }
        let stored: Option<String> = self
            .conn
            .query_row(
                "SELECT password_hash FROM officer WHERE officer_id = ?1",
                params![id],
                |r| r.get(0),
            )
            .optional()?;
        // An unknown id costs the same Argon2 work as a known one (no timing oracle).
        static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let dummy = DUMMY.get_or_init(|| {
            Argon2::default()
                .hash_password(b"no such officer", &SaltString::generate(&mut OsRng))
                .map(|h| h.to_string())
                .unwrap_or_default()
        });
        let hash_text = stored.as_deref().unwrap_or(dummy);
        let verified = PasswordHash::new(hash_text)
            .map(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
            .unwrap_or(false);
        let ok = verified && stored.is_some();
        self.conn.execute(
            "INSERT INTO login_attempt (officer_id, at_ms, succeeded) VALUES (?1, ?2, ?3)",
            params![id, now, ok],
        )?;
        if !ok {
            return Ok(Err(LoginRefused::BadCredentials));
        }
        let token = random_token()?;
        self.conn.execute(
            "INSERT INTO session (token_sha256, officer_id, csrf_token, created_at_ms, expires_at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![sha256_hex(&token), id, random_token()?, now, now + SESSION_MS],
        )?;
        Ok(Ok(token))
    }

    /// The session of a cookie's token, if it exists and has not expired.
    pub fn session(&self, token: &str) -> anyhow::Result<Option<Session>> {
        let row: Option<(String, String, String)> = self
            .conn
            .query_row(
                "SELECT s.officer_id, s.csrf_token, o.provinces FROM session s JOIN officer o USING (officer_id)
                 WHERE s.token_sha256 = ?1 AND s.expires_at_ms > ?2",
                params![sha256_hex(token), now_ms()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        Ok(row.map(|(officer_id, csrf_token, provinces)| Session {
            officer: Officer {
                officer_id,
                // A stored list that no longer parses grants nothing.
                provinces: Provinces::parse(&provinces).unwrap_or(Provinces::Only(Vec::new())),
            },
            csrf_token,
        }))
    }

    pub fn logout(&self, token: &str) -> anyhow::Result<()> {
        self.conn.execute(
            "DELETE FROM session WHERE token_sha256 = ?1",
            params![sha256_hex(token)],
        )?;
        Ok(())
    }

    /// Appends a decision; returns its id.
    pub fn record(&self, a: &NewAdjudication<'_>) -> anyhow::Result<i64> {
        self.conn.execute(
            "INSERT INTO adjudication (run_id, request_id, officer_id, decided_at_ms, engine_decision, engine_reason,
                                       engine_score, threshold, officer_decision, comment)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                a.run_id,
                a.request_id,
                a.officer_id,
                now_ms(),
                a.engine_decision,
                a.engine_reason,
                a.engine_score,
                a.threshold,
                a.decision.as_str(),
                a.comment
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Every decision of a run, oldest first (`None`: of every run).
    pub fn adjudications(&self, run_id: Option<&str>) -> anyhow::Result<Vec<Adjudication>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, run_id, request_id, officer_id, decided_at_ms, engine_decision, engine_reason, engine_score,
                    threshold, officer_decision, comment
             FROM adjudication WHERE ?1 IS NULL OR run_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map(params![run_id], |r| {
            Ok(Adjudication {
                id: r.get(0)?,
                run_id: r.get(1)?,
                request_id: r.get(2)?,
                officer_id: r.get(3)?,
                decided_at_ms: r.get(4)?,
                engine_decision: r.get(5)?,
                engine_reason: r.get(6)?,
                engine_score: r.get::<_, Option<f64>>(7)?.map(|v| v as f32),
                threshold: r.get::<_, f64>(8)? as f32,
                officer_decision: r.get(9)?,
                comment: r.get(10)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// The latest decision per request of a run (the one that counts).
    pub fn latest_decisions(&self, run_id: &str) -> anyhow::Result<std::collections::BTreeMap<String, Adjudication>> {
        let mut latest = std::collections::BTreeMap::new();
        for a in self.adjudications(Some(run_id))? {
            latest.insert(a.request_id.clone(), a);
        }
        Ok(latest)
    }

    /// Logs that an officer was shown a citizen's photo.
    pub fn log_photo_view(&self, officer_id: &str, run_id: &str, request_id: &str, photo: &str) -> anyhow::Result<()> {
        self.conn.execute(
            "INSERT INTO photo_view (officer_id, viewed_at_ms, run_id, request_id, photo) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![officer_id, now_ms(), run_id, request_id, photo],
        )?;
        Ok(())
    }

    /// The photo-view log, oldest first.
    pub fn photo_views(&self) -> anyhow::Result<Vec<PhotoView>> {
        let mut stmt = self
            .conn
            .prepare("SELECT officer_id, viewed_at_ms, run_id, request_id, photo FROM photo_view ORDER BY id")?;
        let rows = stmt.query_map([], |r| {
            Ok(PhotoView {
                officer_id: r.get(0)?,
                viewed_at_ms: r.get(1)?,
                run_id: r.get(2)?,
                request_id: r.get(3)?,
                photo: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("review.db")).unwrap();
        (dir, s)
    }

    #[test]
    fn passwords_are_argon2_and_wrong_ones_are_refused_then_rate_limited() {
        let (_d, s) = store();
        s.add_officer("siti", "correct horse battery", &Provinces::parse("31").unwrap(), false)
            .unwrap();
        let stored: String = s
            .conn
            .query_row("SELECT password_hash FROM officer", [], |r| r.get(0))
            .unwrap();
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(!stored.contains("correct horse"));
        assert!(s.login("siti", "correct horse battery").unwrap().is_ok());
        for _ in 0..MAX_FAILED_LOGINS {
            assert_eq!(
                s.login("siti", "wrong password!!").unwrap(),
                Err(LoginRefused::BadCredentials)
            );
        }
        // Locked now, even with the right password.
        assert_eq!(
            s.login("siti", "correct horse battery").unwrap(),
            Err(LoginRefused::RateLimited)
        );
        assert_eq!(
            s.login("nobody", "whatever it is").unwrap(),
            Err(LoginRefused::BadCredentials)
        );
    }

    #[test]
    fn adjudications_and_photo_views_are_append_only() {
        let (_d, s) = store();
        s.add_officer("budi", "another long password", &Provinces::All, false)
            .unwrap();
        let a = NewAdjudication {
            run_id: "run-1",
            request_id: "req-1",
            officer_id: "budi",
            engine_decision: "no_match",
            engine_reason: "near_threshold",
            engine_score: Some(3.1),
            threshold: 3.5,
            decision: OfficerDecision::Reject,
            comment: "",
        };
        s.record(&a).unwrap();
        s.record(&NewAdjudication {
            decision: OfficerDecision::Approve,
            comment: "same person, looked again",
            ..a
        })
        .unwrap();
        let latest = s.latest_decisions("run-1").unwrap();
        assert_eq!(latest["req-1"].officer_decision, "approve");
        assert_eq!(s.adjudications(None).unwrap().len(), 2);
        assert!(s
            .conn
            .execute("UPDATE adjudication SET officer_decision = 'reject'", [])
            .is_err());
        assert!(s.conn.execute("DELETE FROM adjudication", []).is_err());
        s.log_photo_view("budi", "run-1", "req-1", "selfie").unwrap();
        assert!(s.conn.execute("DELETE FROM photo_view", []).is_err());
        assert_eq!(s.photo_views().unwrap().len(), 1);
    }

    #[test]
    fn provinces_parse_and_gate() {
        assert_eq!(Provinces::parse("32, 31,31").unwrap(), Provinces::Only(vec![31, 32]));
        assert!(Provinces::parse("3").is_err());
        assert!(Provinces::parse("abc").is_err());
        let p = Provinces::parse("31").unwrap();
        assert!(p.allows(Some(31)) && !p.allows(Some(32)) && !p.allows(None));
        assert!(Provinces::All.allows(None));
    }
}
