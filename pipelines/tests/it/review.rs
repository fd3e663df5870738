//! The review page's security rules and the review tools, in process (no socket, no browser):
//! the router answers requests built here. The browser tests are in `browser.rs`.

use super::common::{fixture, read_table};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use ikd_engine::{Engine, EngineConfig};
use ikd_pipelines::review::queue::RunQueue;
use ikd_pipelines::review::store::{Provinces, Store, MAX_FAILED_LOGINS};
use ikd_pipelines::review::web::{router, App};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tower::ServiceExt;

pub const PASSWORD: &str = "a long enough password";

/// A copy of the fixture's reference run (the tools write into it) with its queue loaded.
pub struct ReviewSetup {
    pub out: PathBuf,
    pub db: PathBuf,
    pub queue_province: u8,
    /// The input row of an item officers may approve, and of another one.
    pub approvable: Vec<u64>,
    pub app: Arc<App>,
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        let t = to.join(e.file_name());
        if p.is_dir() {
            copy_dir(&p, &t);
        } else {
            std::fs::copy(&p, &t).unwrap();
            // Keep the commit times: the run report plots rows committed over time from them.
            let modified = std::fs::metadata(&p).unwrap().modified().unwrap();
            std::fs::File::options()
                .write(true)
                .open(&t)
                .unwrap()
                .set_modified(modified)
                .unwrap();
        }
    }
}

fn models(engine: &Engine) -> Vec<(String, usize)> {
    engine.embedders().map(|e| (e.id.clone(), e.dims)).collect()
}

/// A fresh copy of the reference run and a database with two officers: `jakarta` sees the
/// province of the first approvable item, `elsewhere` another province.
pub fn setup(name: &str) -> ReviewSetup {
    let f = fixture();
    let out = f.root.join(format!("review-{name}"));
    let _ = std::fs::remove_dir_all(&out);
    copy_dir(&f.reference, &out);
    let db = f.root.join(format!("review-{name}.db"));
    let _ = std::fs::remove_file(&db);
    let engine = Engine::new(EngineConfig::default()).expect("engine");
    let queue = RunQueue::load(&out, &f.gallery, &models(&engine), None).expect("queue");
    let first = queue
        .items
        .iter()
        .find(|i| i.approvable())
        .expect("an approvable item in the demo queue");
    let province = first.province.expect("province");
    let approvable: Vec<u64> = queue
        .items
        .iter()
        .filter(|i| i.approvable() && i.province == Some(province))
        .map(|i| i.review.input_row)
        .collect();
    let other = (11..=99u8)
        .find(|p| *p != province && queue.items.iter().any(|i| i.province == Some(*p)))
        .unwrap_or(if province == 31 { 32 } else { 31 });
    let store = Store::open(&db).unwrap();
    store
        .add_officer("jakarta", PASSWORD, &Provinces::Only(vec![province]), false)
        .unwrap();
    store
        .add_officer("elsewhere", PASSWORD, &Provinces::Only(vec![other]), false)
        .unwrap();
    ReviewSetup {
        out,
        db,
        queue_province: province,
        approvable,
        app: App::new(store, queue, engine, true),
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

pub fn send(app: &Arc<App>, req: Request<Body>) -> Reply {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let res = router(app.clone()).oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    })
}

fn get(path: &str, cookie: Option<&str>) -> Request<Body> {
    let mut b = Request::get(path);
    if let Some(c) = cookie {
        b = b.header(header::COOKIE, c);
    }
    b.body(Body::empty()).unwrap()
}

fn post(path: &str, cookie: Option<&str>, form: &[(&str, &str)]) -> Request<Body> {
    let body: String = form
        .iter()
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let mut b = Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(c) = cookie {
        b = b.header(header::COOKIE, c);
    }
    b.body(Body::from(body)).unwrap()
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn set_cookie(r: &Reply, name: &str) -> Option<String> {
    r.headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap_or("").to_string())
}

/// The value of the form's hidden CSRF field.
fn csrf_of(html: &str) -> String {
    let i = html.find("name=\"csrf\" value=\"").expect("a CSRF field") + "name=\"csrf\" value=\"".len();
    html[i..].split('"').next().unwrap().to_string()
}

/// Logs in; returns (session cookie, the session's CSRF token).
fn login(app: &Arc<App>, officer: &str, password: &str) -> Result<(String, String), StatusCode> {
    let page = send(app, get("/login", None));
    let login_cookie = set_cookie(&page, "ikd_login_csrf").expect("login CSRF cookie");
    let csrf = csrf_of(&page.body);
    let r = send(
        app,
        post(
            "/login",
            Some(&login_cookie),
            &[("csrf", &csrf), ("officer_id", officer), ("password", password)],
        ),
    );
    if r.status != StatusCode::SEE_OTHER {
        return Err(r.status);
    }
    let session = set_cookie(&r, "ikd_session").expect("session cookie");
    let cookie_line = r
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("ikd_session="))
        .unwrap()
        .to_string();
    assert!(
        cookie_line.contains("HttpOnly") && cookie_line.contains("SameSite=Strict") && cookie_line.contains("Secure"),
        "{cookie_line}"
    );
    let queue = send(app, get("/queue", Some(&session)));
    assert_eq!(queue.status, StatusCode::OK);
    Ok((session.clone(), csrf_of(&queue.body)))
}

fn is_login_redirect(r: &Reply) -> bool {
    r.status == StatusCode::SEE_OTHER && r.headers.get(header::LOCATION).is_some_and(|l| l == "/login")
}

#[test]
fn no_page_or_photo_without_a_session() {
    let s = setup("nosession");
    let row = s.approvable[0];
    let request_id = s.app.queue.item(row).unwrap().review.request_id.clone();
    for path in [
        "/queue".to_string(),
        format!("/item/{row}"),
        format!("/item/{row}/photo/selfie"),
        format!("/item/{row}/photo/ktp_el"),
    ] {
        for cookie in [None, Some("ikd_session=not-a-session")] {
            let r = send(&s.app, get(&path, cookie));
            assert!(is_login_redirect(&r), "{path} {cookie:?}: {}", r.status);
            assert!(!r.body.contains(&request_id));
        }
    }
    let r = send(
        &s.app,
        post(&format!("/item/{row}/decide"), None, &[("decision", "approve")]),
    );
    assert!(is_login_redirect(&r));
    assert!(Store::open(&s.db).unwrap().adjudications(None).unwrap().is_empty());
}

#[test]
fn an_officer_sees_and_decides_only_assigned_provinces() {
    let s = setup("provinces");
    let (cookie, csrf) = login(&s.app, "elsewhere", PASSWORD).unwrap();
    // The queue lists none of the other province's items.
    let queue = send(&s.app, get("/queue", Some(&cookie)));
    for it in s
        .app
        .queue
        .items
        .iter()
        .filter(|i| i.province == Some(s.queue_province))
    {
        assert!(!queue.body.contains(&format!("/item/{}\"", it.review.input_row)));
    }
    // ... and a guessed URL is 403 on every route.
    let row = s.approvable[0];
    for path in [
        format!("/item/{row}"),
        format!("/item/{row}/photo/selfie"),
        format!("/item/{row}/photo/ktp_el"),
    ] {
        let r = send(&s.app, get(&path, Some(&cookie)));
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
    }
    let r = send(
        &s.app,
        post(
            &format!("/item/{row}/decide"),
            Some(&cookie),
            &[("csrf", &csrf), ("decision", "approve"), ("comment", "")],
        ),
    );
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = send(
        &s.app,
        get(&format!("/queue?province={:02}", s.queue_province), Some(&cookie)),
    );
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let store = Store::open(&s.db).unwrap();
    assert!(store.adjudications(None).unwrap().is_empty());
    assert!(store.photo_views().unwrap().is_empty());

    // The assigned officer sees the item.
    let (cookie, _) = login(&s.app, "jakarta", PASSWORD).unwrap();
    let queue = send(&s.app, get("/queue", Some(&cookie)));
    assert!(queue.body.contains(&format!("/item/{row}\"")));
    assert_eq!(
        send(&s.app, get(&format!("/item/{row}"), Some(&cookie))).status,
        StatusCode::OK
    );
}

#[test]
fn a_form_without_the_csrf_token_is_refused() {
    let s = setup("csrf");
    let (cookie, csrf) = login(&s.app, "jakarta", PASSWORD).unwrap();
    let row = s.approvable[0];
    for token in ["", "0000", &"f".repeat(64)] {
        let r = send(
            &s.app,
            post(
                &format!("/item/{row}/decide"),
                Some(&cookie),
                &[("csrf", token), ("decision", "approve"), ("comment", "x")],
            ),
        );
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "token {token:?}");
    }
    let r = send(
        &s.app,
        post(
            &format!("/item/{row}/decide"),
            Some(&cookie),
            &[("decision", "approve")],
        ),
    );
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // The login form too.
    let page = send(&s.app, get("/login", None));
    let login_cookie = set_cookie(&page, "ikd_login_csrf").unwrap();
    let r = send(
        &s.app,
        post(
            "/login",
            Some(&login_cookie),
            &[("csrf", "wrong"), ("officer_id", "jakarta"), ("password", PASSWORD)],
        ),
    );
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(set_cookie(&r, "ikd_session").is_none());
    // Logout needs it as well.
    let r = send(&s.app, post("/logout", Some(&cookie), &[]));
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(Store::open(&s.db).unwrap().adjudications(None).unwrap().is_empty());
    // With the token the decision is recorded.
    let r = send(
        &s.app,
        post(
            &format!("/item/{row}/decide"),
            Some(&cookie),
            &[("csrf", &csrf), ("decision", "in_person"), ("comment", "call")],
        ),
    );
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let all = Store::open(&s.db).unwrap().adjudications(None).unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].officer_decision, "in_person");
    assert_eq!(all[0].officer_id, "jakarta");
    assert_eq!(all[0].request_id, s.app.queue.item(row).unwrap().review.request_id);
}

#[test]
fn wrong_passwords_are_refused_then_rate_limited() {
    let s = setup("passwords");
    assert_eq!(
        login(&s.app, "jakarta", "not the password"),
        Err(StatusCode::UNAUTHORIZED)
    );
    assert_eq!(login(&s.app, "nobody", PASSWORD), Err(StatusCode::UNAUTHORIZED));
    for _ in 1..MAX_FAILED_LOGINS {
        assert_eq!(login(&s.app, "jakarta", "still not it"), Err(StatusCode::UNAUTHORIZED));
    }
    // Locked: even the right password is refused now.
    assert_eq!(login(&s.app, "jakarta", PASSWORD), Err(StatusCode::TOO_MANY_REQUESTS));
    // Another officer is not affected.
    assert!(login(&s.app, "elsewhere", PASSWORD).is_ok());
}

#[test]
fn every_photo_view_is_logged() {
    let s = setup("photolog");
    let (cookie, _) = login(&s.app, "jakarta", PASSWORD).unwrap();
    let row = s.approvable[0];
    let item = s.app.queue.item(row).unwrap().clone();
    let page = send(&s.app, get(&format!("/item/{row}"), Some(&cookie)));
    assert_eq!(page.status, StatusCode::OK);
    // The page shows the engine's view: its reason, the score against the threshold, a face box.
    assert!(page.body.contains(&item.review.review_reason));
    assert!(page.body.contains(&format!("{:.3}", item.review.threshold)));
    assert!(page.body.contains("<rect"), "no face box drawn");
    for which in ["selfie", "ktp_el", "selfie"] {
        let r = send(&s.app, get(&format!("/item/{row}/photo/{which}"), Some(&cookie)));
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.headers[header::CACHE_CONTROL], "no-store");
        assert!(!r.body.is_empty());
    }
    let views = Store::open(&s.db).unwrap().photo_views().unwrap();
    let photos: Vec<&str> = views.iter().map(|v| v.photo.as_str()).collect();
    assert_eq!(photos, ["selfie", "ktp_el", "selfie"]);
    for v in &views {
        assert_eq!(v.officer_id, "jakarta");
        assert_eq!(v.run_id, s.app.queue.run_id());
        assert_eq!(v.request_id, item.review.request_id);
        assert!(v.viewed_at_ms > 1_700_000_000_000, "a time in ms");
    }
    // The export writes them next to the run, with the decisions.
    let (path, n) = ikd_pipelines::review::export(&s.out, &s.db).unwrap();
    assert_eq!(n, 0);
    assert!(path.is_file());
    assert_eq!(read_table_file(&s.out.join("photo_views.parquet")).len(), 3);
}

pub fn read_table_file(path: &Path) -> Vec<super::common::Row> {
    let dir = path
        .parent()
        .unwrap()
        .join(format!("{}.d", path.file_name().unwrap().to_string_lossy()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(path, dir.join("t.parquet")).unwrap();
    read_table(&dir)
}

#[test]
fn the_run_report_holds_the_summary_counts() {
    let f = fixture();
    let out = f.root.join("report-run");
    let _ = std::fs::remove_dir_all(&out);
    copy_dir(&f.reference, &out);
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_ikd"))
        .arg("report")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert!(html.contains(&format!("<td id=\"rows\">{}</td>", summary["rows"])));
    assert!(html.contains(&format!("<span id=\"review_rows\">{}</span>", summary["review_rows"])));
    for table in ["decisions", "reasons"] {
        for (k, v) in summary[table].as_object().unwrap() {
            if v.as_u64() == Some(0) {
                continue;
            }
            assert!(
                html.contains(&format!("<tr><td>{k}</td><td class=\"n\">{v}</td>")),
                "{table}: {k} = {v} not in the report"
            );
        }
    }
    // Self-contained: plots inline, nothing fetched.
    assert!(html.matches("<svg").count() >= 3);
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));
}

/// The commands as an office runs them: `ikd review add-officer` (password on stdin) and
/// `ikd review serve` on a real socket, bound to localhost.
#[test]
fn add_officer_and_serve_from_the_command_line() {
    use std::io::{Read, Write};
    use std::os::unix::fs::PermissionsExt;
    use std::process::{Command, Stdio};
    let f = fixture();
    let db = f.root.join("review-cli.db");
    let _ = std::fs::remove_file(&db);
    let add = |officer: &str, password: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ikd"))
            .args(["review", "add-officer", "--db"])
            .arg(&db)
            .args(["--officer", officer, "--provinces", "31,35"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{password}\n").as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let short = add("siti", "too short");
    assert_eq!(
        short.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&short.stderr)
    );
    let ok = add("siti", PASSWORD);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert_eq!(std::fs::metadata(&db).unwrap().permissions().mode() & 0o777, 0o600);
    let store = Store::open(&db).unwrap();
    assert!(store.login("siti", PASSWORD).unwrap().is_ok());
    assert!(store.login("siti", "a wrong password").unwrap().is_err());
    drop(store);
    assert_eq!(
        add("siti", PASSWORD).status.code(),
        Some(2),
        "an existing officer is refused"
    );

    let out = f.root.join("review-cli-run");
    let _ = std::fs::remove_dir_all(&out);
    copy_dir(&f.reference, &out);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Command::new(env!("CARGO_BIN_EXE_ikd"))
        .args(["review", "serve", "--run"])
        .arg(&out)
        .arg("--gallery")
        .arg(&f.gallery)
        .arg("--db")
        .arg(&db)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let reply = loop {
        if let Ok(mut c) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            c.write_all(b"GET /queue HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut reply = String::new();
            c.read_to_string(&mut reply).unwrap();
            break reply;
        }
        assert!(started.elapsed().as_secs() < 120, "ikd review serve did not listen");
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let _ = server.kill();
    let _ = server.wait();
    // No session: to the login page, with the headers every page carries.
    assert!(reply.starts_with("HTTP/1.1 303"), "{reply}");
    let lower = reply.to_ascii_lowercase();
    assert!(lower.contains("location: /login"), "{reply}");
    assert!(lower.contains("cache-control: no-store"), "{reply}");
    assert!(lower.contains("content-security-policy: default-src 'none'"), "{reply}");
}

#[test]
fn a_second_issue_on_the_same_run_is_refused_while_one_works() {
    let s = setup("issuelock");
    let dir = ikd_pipelines::review::adjudicated_dir(&s.out);
    std::fs::create_dir_all(&dir).unwrap();
    let held = std::fs::File::create(dir.join(".issue.lock")).unwrap();
    held.lock().unwrap();
    let cfg = ikd_pipelines::review::IssueConfig {
        out: s.out.clone(),
        db: s.db.clone(),
        keys: fixture().keys.clone(),
        encrypt_key: None,
        gallery: None,
        requests: None,
    };
    let err = ikd_pipelines::review::issue(&s.app.engine, &cfg).unwrap_err();
    assert!(format!("{err:#}").contains("another `ikd review issue`"), "{err:#}");
    held.unlock().unwrap();
    let done = ikd_pipelines::review::issue(&s.app.engine, &cfg).unwrap();
    assert_eq!(done.approved, 0, "nothing approved in this database yet");
}
