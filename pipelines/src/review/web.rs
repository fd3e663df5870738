//! The review page: server-rendered HTML (maud escapes every value), no JavaScript.
//!
//! Routes (all but `/login` need a session; a request without one is sent to `/login`):
//!
//! ```text
//! GET  /login                        form (a login CSRF token in a cookie and the form)
//! POST /login                        Argon2 check, rate limit, session cookie
//! POST /logout
//! GET  /queue?province=&shard=&reason=   the officer's provinces only
//! GET  /item/{input_row}             photos side by side, face boxes, scores, audit columns, trail
//! GET  /item/{input_row}/photo/{selfie|ktp_el}   logged in photo_view
//! POST /item/{input_row}/decide      approve / reject / in_person + comment (CSRF token)
//! ```
//!
//! Another province's item is 403 on every route, whether linked or guessed.

use super::queue::{ReviewItem, RunQueue};
use super::store::{LoginRefused, NewAdjudication, OfficerDecision, Session, Store};
use anyhow::Context;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use ikd_engine::{Analysis, Engine, FacePolicy};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use serde::Deserialize;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

const SESSION_COOKIE: &str = "ikd_session";
const LOGIN_CSRF_COOKIE: &str = "ikd_login_csrf";
const MAX_COMMENT_CHARS: usize = 2000;

/// Everything the handlers share.
pub struct App {
    pub store: Mutex<Store>,
    pub queue: RunQueue,
    pub engine: Engine,
    /// `Secure` on cookies (on unless the page is served over plain HTTP beyond localhost's
    /// exemption, which browsers do not grant).
    pub secure_cookies: bool,
    /// What the engine saw in each photo, computed on first view.
    analyses: Mutex<HashMap<(u64, Photo), Arc<Seen>>>,
}

impl App {
    pub fn new(store: Store, queue: RunQueue, engine: Engine, secure_cookies: bool) -> Arc<App> {
        Arc::new(App {
            store: Mutex::new(store),
            queue,
            engine,
            secure_cookies,
            analyses: Mutex::new(HashMap::new()),
        })
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        // A panic while holding the lock cannot leave SQLite inconsistent (transactions).
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Photo {
    Selfie,
    KtpEl,
}

impl Photo {
    fn parse(s: &str) -> Option<Photo> {
        match s {
            "selfie" => Some(Photo::Selfie),
            "ktp_el" => Some(Photo::KtpEl),
            _ => None,
        }
    }
    fn as_str(self) -> &'static str {
        match self {
            Photo::Selfie => "selfie",
            Photo::KtpEl => "ktp_el",
        }
    }
    fn title(self) -> &'static str {
        match self {
            Photo::Selfie => "Selfie",
            Photo::KtpEl => "KTP-el photo (gallery)",
        }
    }
}

/// The engine's view of one photo, for drawing and the quality table.
struct Seen {
    width: u32,
    height: u32,
    analysis: Analysis,
}

/// The router (for `serve` and for in-process tests).
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/queue") }))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/queue", get(queue_page))
        .route("/item/{row}", get(item_page))
        .route("/item/{row}/photo/{which}", get(photo))
        .route("/item/{row}/decide", post(decide))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(app)
}

async fn security_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Citizens' photos and data must not stay in a shared office computer's cache.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn set_cookie(app: &App, name: &str, value: &str, max_age_s: i64) -> HeaderValue {
    let secure = if app.secure_cookies { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age_s}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A request's outcome when it cannot be served.
enum Refusal {
    Login,
    Forbidden,
    NotFound,
    BadRequest(String),
    Internal(String),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let (status, msg) = match self {
            Refusal::Login => return Redirect::to("/login").into_response(),
            Refusal::Forbidden => (
                StatusCode::FORBIDDEN,
                "This item belongs to a province you are not assigned to.".to_string(),
            ),
            Refusal::NotFound => (
                StatusCode::NOT_FOUND,
                "No such item in this run's review queue.".to_string(),
            ),
            Refusal::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            Refusal::Internal(m) => {
                eprintln!("ikd review serve: {m}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal error (see the server log).".to_string(),
                )
            }
        };
        (
            status,
            Html(page("Refused", None, html! { p.error { (msg) } }).into_string()),
        )
            .into_response()
    }
}

impl From<anyhow::Error> for Refusal {
    fn from(e: anyhow::Error) -> Self {
        Refusal::Internal(format!("{e:#}"))
    }
}

/// The session of a request, or a redirect to the login page.
fn session(app: &App, headers: &HeaderMap) -> Result<(Session, String), Refusal> {
    let token = cookie(headers, SESSION_COOKIE).ok_or(Refusal::Login)?;
    let s = app.store().session(token)?.ok_or(Refusal::Login)?;
    Ok((s, token.to_string()))
}

/// The item of a URL, if the officer may see it.
fn item_for<'a>(app: &'a App, s: &Session, row: u64) -> Result<&'a ReviewItem, Refusal> {
    let item = app.queue.item(row).ok_or(Refusal::NotFound)?;
    if !s.officer.provinces.allows(item.province) {
        return Err(Refusal::Forbidden);
    }
    Ok(item)
}

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse}\
td,th{border:1px solid #bbb;padding:3px 8px;text-align:left;font-size:14px}th{background:#eee}\
.error{color:#a00;font-weight:bold}.photos{display:flex;gap:2em;flex-wrap:wrap}\
figure{margin:0;width:380px}figcaption{font-weight:bold;margin-bottom:4px}header{display:flex;gap:1em;align-items:center;\
border-bottom:1px solid #ccc;margin-bottom:1em;padding-bottom:.5em}header form{margin-left:auto}\
.mono{font-family:monospace;font-size:12px}.tag{padding:1px 6px;border-radius:3px;background:#eef}\
.approve{background:#dfd}.reject{background:#fdd}.in_person{background:#ffd}";

fn page(title: &str, session: Option<&Session>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title) " · ikd review" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    strong { "ikd review" }
                    @if let Some(s) = session {
                        a href="/queue" { "Queue" }
                        span { "Officer " strong #officer { (s.officer.officer_id) } " · provinces " (s.officer.provinces.to_db()) }
                        form method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(s.csrf_token);
                            button type="submit" { "Log out" }
                        }
                    }
                }
                (body)
            }
        }
    }
}

async fn login_page(State(app): State<Arc<App>>) -> Result<Response, Refusal> {
    let token = super::store::random_token()?;
    let body = login_form(&token, None);
    let mut res = Html(page("Log in", None, body).into_string()).into_response();
    res.headers_mut()
        .insert(header::SET_COOKIE, set_cookie(&app, LOGIN_CSRF_COOKIE, &token, 900));
    Ok(res)
}

fn login_form(csrf: &str, error: Option<&str>) -> Markup {
    html! {
        h1 { "Log in" }
        @if let Some(e) = error { p.error #login-error { (e) } }
        form method="post" action="/login" {
            input type="hidden" name="csrf" value=(csrf);
            p { label { "Officer id " input #officer_id type="text" name="officer_id" autocomplete="username" required; } }
            p { label { "Password " input #password type="password" name="password" autocomplete="current-password" required; } }
            button #login type="submit" { "Log in" }
        }
    }
}

#[derive(Deserialize)]
struct LoginForm {
    csrf: String,
    officer_id: String,
    password: String,
}

async fn login(State(app): State<Arc<App>>, headers: HeaderMap, Form(f): Form<LoginForm>) -> Result<Response, Refusal> {
    let expected = cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or("");
    if expected.is_empty() || !same_token(expected, &f.csrf) {
        return Err(Refusal::BadRequest(
            "The form's CSRF token is missing or wrong: reload the login page.".into(),
        ));
    }
    let app2 = app.clone();
    let outcome = tokio::task::spawn_blocking(move || app2.store().login(&f.officer_id, &f.password))
        .await
        .map_err(|e| Refusal::Internal(e.to_string()))??;
    match outcome {
        Ok(token) => {
            let mut res = Redirect::to("/queue").into_response();
            let h = res.headers_mut();
            h.append(
                header::SET_COOKIE,
                set_cookie(&app, SESSION_COOKIE, &token, super::store::SESSION_MS / 1000),
            );
            h.append(header::SET_COOKIE, set_cookie(&app, LOGIN_CSRF_COOKIE, "", 0));
            Ok(res)
        }
        Err(refused) => {
            let (status, msg) = match refused {
                LoginRefused::BadCredentials => (StatusCode::UNAUTHORIZED, "Wrong officer id or password."),
                LoginRefused::RateLimited => (
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many failed logins: wait 15 minutes or ask an administrator.",
                ),
            };
            Ok((
                status,
                Html(page("Log in", None, login_form(expected, Some(msg))).into_string()),
            )
                .into_response())
        }
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(State(app): State<Arc<App>>, headers: HeaderMap, Form(f): Form<CsrfForm>) -> Result<Response, Refusal> {
    let (s, token) = session(&app, &headers)?;
    if !same_token(&s.csrf_token, &f.csrf) {
        return Err(Refusal::BadRequest("CSRF token missing or wrong.".into()));
    }
    app.store().logout(&token)?;
    let mut res = Redirect::to("/login").into_response();
    res.headers_mut()
        .insert(header::SET_COOKIE, set_cookie(&app, SESSION_COOKIE, "", 0));
    Ok(res)
}

#[derive(Deserialize, Default)]
struct QueueFilter {
    province: Option<String>,
    shard: Option<String>,
    reason: Option<String>,
}

fn province_label(p: Option<u8>) -> String {
    p.map(|p| format!("{p:02}"))
        .unwrap_or_else(|| "none (invalid NIK)".into())
}

fn masked(nik: &str) -> String {
    ikd_engine::nik::Nik::parse(nik)
        .map(|n| n.masked())
        .unwrap_or_else(|_| "invalid".into())
}

async fn queue_page(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(f): Query<QueueFilter>,
) -> Result<Response, Refusal> {
    let (s, _) = session(&app, &headers)?;
    let q = &app.queue;
    let latest = app.store().latest_decisions(q.run_id())?;
    let want_province: Option<Option<u8>> = match f.province.as_deref() {
        None | Some("") => None,
        Some("none") => Some(None),
        Some(p) => Some(Some(
            p.parse()
                .map_err(|_| Refusal::BadRequest("province: a 2-digit code".into()))?,
        )),
    };
    if let Some(p) = want_province {
        if !s.officer.provinces.allows(p) {
            return Err(Refusal::Forbidden);
        }
    }
    let want_shard: Option<u32> = match f.shard.as_deref() {
        None | Some("") => None,
        Some(x) => Some(x.parse().map_err(|_| Refusal::BadRequest("shard: a number".into()))?),
    };
    let want_reason = f.reason.as_deref().filter(|r| !r.is_empty());
    let visible: Vec<&ReviewItem> = q
        .items
        .iter()
        .filter(|it| s.officer.provinces.allows(it.province))
        .collect();
    let provinces: BTreeSet<Option<u8>> = visible.iter().map(|it| it.province).collect();
    let shards: BTreeSet<u32> = visible.iter().map(|it| it.shard).collect();
    let reasons: BTreeSet<&str> = visible.iter().map(|it| it.review.review_reason.as_str()).collect();
    let shown: Vec<&ReviewItem> = visible
        .iter()
        .copied()
        .filter(|it| want_province.is_none_or(|p| it.province == p))
        .filter(|it| want_shard.is_none_or(|sh| it.shard == sh))
        .filter(|it| want_reason.is_none_or(|r| it.review.review_reason == r))
        .collect();
    let undecided = shown
        .iter()
        .filter(|it| !latest.contains_key(&it.review.request_id))
        .count();
    let sel = |a: bool| if a { Some("selected") } else { None };
    let body = html! {
        h1 { "Review queue" }
        p { "Run " span.mono { (q.run_id()) } ": " (shown.len()) " items shown, " (undecided) " without a decision ("
            (visible.len()) " in your provinces, " (q.items.len()) " in the run)." }
        form method="get" action="/queue" {
            label { "Province " select name="province" {
                option value="" { "all of mine" }
                @for p in &provinces {
                    @let v = p.map(|p| format!("{p:02}")).unwrap_or_else(|| "none".into());
                    option value=(v) selected=[sel(want_province == Some(*p))] { (province_label(*p)) }
                }
            } }
            " "
            label { "Shard " select name="shard" {
                option value="" { "all" }
                @for sh in &shards { option value=(sh) selected=[sel(want_shard == Some(*sh))] { (sh) } }
            } }
            " "
            label { "Reason " select name="reason" {
                option value="" { "all" }
                @for r in &reasons { option value=(r) selected=[sel(want_reason == Some(*r))] { (r) } }
            } }
            " " button #filter type="submit" { "Filter" }
        }
        table #queue {
            tr { th { "input row" } th { "request" } th { "NIK" } th { "province" } th { "shard" } th { "reason" }
                 th { "engine" } th { "score / threshold" } th { "officer's decision" } }
            @for it in &shown {
                @let r = &it.review;
                tr.item data-province=(province_label(it.province)) {
                    td { (r.input_row) }
                    td { a href={ "/item/" (r.input_row) } { (r.request_id) } }
                    td.mono { (masked(&r.nik)) }
                    td { (province_label(it.province)) }
                    td { (it.shard) }
                    td { span.tag { (r.review_reason) } }
                    td { (r.decision) }
                    td { (r.score.map(|v| format!("{v:.2}")).unwrap_or_else(|| "–".into())) " / " (format!("{:.2}", r.threshold)) }
                    td { @if let Some(a) = latest.get(&r.request_id) {
                        span class={ "tag " (a.officer_decision) } { (a.officer_decision) } " by " (a.officer_id)
                    } @else { "–" } }
                }
            }
        }
    };
    Ok(Html(page("Queue", Some(&s), body).into_string()).into_response())
}

/// The engine's analysis of one of an item's photos (cached).
async fn seen(app: &Arc<App>, item: &ReviewItem, which: Photo) -> Result<Arc<Seen>, String> {
    let key = (item.review.input_row, which);
    if let Some(s) = app.analyses.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(s.clone());
    }
    let bytes = match which {
        Photo::Selfie => app.queue.selfie(item)?,
        Photo::KtpEl => app.queue.ktp_photo(item)?,
    };
    let app2 = app.clone();
    let analysis = tokio::task::spawn_blocking(move || app2.engine.analyze(&bytes, FacePolicy::Single))
        .await
        .map_err(|e| e.to_string())?;
    let (width, height) = analysis.image.as_ref().map(|i| (i.width, i.height)).unwrap_or((0, 0));
    let s = Arc::new(Seen {
        width,
        height,
        analysis,
    });
    app.analyses
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, s.clone());
    Ok(s)
}

fn photo_figure(row: u64, which: Photo, seen: &Result<Arc<Seen>, String>) -> Markup {
    html! {
        figure #(which.as_str()) {
            figcaption { (which.title()) }
            @match seen {
                Err(e) => { p.error { (e) } }
                Ok(s) if s.width == 0 => { p.error { "The engine could not decode this image." } }
                Ok(s) => {
                    // Fitted into a 360 x 440 box, whatever the photo's orientation.
                    @let scale = (360.0 / s.width as f32).min(440.0 / s.height.max(1) as f32);
                    @let stroke = (2.0 / scale).max(1.0);
                    svg width=(format!("{:.0}", s.width as f32 * scale)) height=(format!("{:.0}", s.height as f32 * scale))
                        viewBox={ "0 0 " (s.width) " " (s.height) } xmlns="http://www.w3.org/2000/svg" {
                        image href={ "/item/" (row) "/photo/" (which.as_str()) } width=(s.width) height=(s.height) {}
                        @for (i, f) in s.analysis.faces.iter().enumerate() {
                            rect x=(f.bbox.x) y=(f.bbox.y) width=(f.bbox.width) height=(f.bbox.height) fill="none"
                                stroke=(if i == 0 { "lime" } else { "orange" }) stroke-width=(stroke) {}
                        }
                        @if let Some(face) = &s.analysis.face {
                            @for p in &face.detection.landmarks {
                                circle cx=(p.x) cy=(p.y) r=(stroke * 1.5) fill="cyan" {}
                            }
                        }
                    }
                    @let err = s.analysis.result.as_ref().err();
                    table.quality {
                        tr { th { "image" } td { (s.width) "×" (s.height) } }
                        tr { th { "faces found" } td { (s.analysis.faces.len()) } }
                        @if let Some(face) = &s.analysis.face {
                            @let q = &face.quality;
                            tr { th { "detector score" } td { (format!("{:.3}", face.detection.score)) } }
                            tr { th { "face size (px)" } td { (format!("{:.0}", q.face_px)) } }
                            tr { th { "yaw / pitch / roll" } td { (format!("{:.2} / {:.2} / {:.1}°", q.yaw, q.pitch, q.roll_degrees)) } }
                            tr { th { "sharpness" } td { (q.sharpness.map(|v| format!("{v:.1}")).unwrap_or_else(|| "–".into())) } }
                        }
                        @if let Some(e) = err {
                            tr { th { "engine refused" } td { (e.to_string()) } }
                        }
                    }
                }
            }
        }
    }
}

async fn item_page(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    UrlPath(row): UrlPath<u64>,
) -> Result<Response, Refusal> {
    let (s, _) = session(&app, &headers)?;
    let item = item_for(&app, &s, row)?;
    let selfie = seen(&app, item, Photo::Selfie).await;
    let ktp = if item.ktp_photo.is_some() {
        seen(&app, item, Photo::KtpEl).await
    } else {
        Err("The NIK has no gallery entry: no KTP-el photo to compare with.".into())
    };
    let trail: Vec<_> = app
        .store()
        .adjudications(Some(app.queue.run_id()))?
        .into_iter()
        .filter(|a| a.request_id == item.review.request_id)
        .collect();
    let r = &item.review;
    let res = item.result.as_ref();
    let audit: Vec<(&str, String)> = vec![
        ("run id", r.run_id.clone()),
        ("input row", r.input_row.to_string()),
        ("shard", item.shard.to_string()),
        (
            "operating point",
            res.map(|x| x.operating_point.clone()).unwrap_or_default(),
        ),
        ("detector", res.map(|x| x.detector_model.clone()).unwrap_or_default()),
        ("matcher", res.map(|x| x.matcher.clone()).unwrap_or_default()),
        (
            "embedders run",
            res.map(|x| x.embedders_used.to_string()).unwrap_or_default(),
        ),
        (
            "engine version",
            res.map(|x| x.engine_version.clone()).unwrap_or_default(),
        ),
        (
            "selfie SHA-256",
            res.and_then(|x| x.selfie_sha256.clone()).unwrap_or_default(),
        ),
        (
            "KTP-el photo SHA-256",
            res.and_then(|x| x.gallery_photo_sha256.clone()).unwrap_or_default(),
        ),
        ("selfie path", r.selfie_path.clone()),
    ];
    let body = html! {
        h1 { "Request " span #request_id { (r.request_id) } }
        p { "NIK " span.mono { (r.nik) } " · province " (province_label(item.province)) }
        div.photos {
            (photo_figure(row, Photo::Selfie, &selfie))
            (photo_figure(row, Photo::KtpEl, &ktp))
        }
        h2 { "The engine's verdict" }
        table #verdict {
            tr { th { "decision" } td #engine_decision { (r.decision) } }
            tr { th { "review reason" } td #review_reason { span.tag { (r.review_reason) } } }
            tr { th { "fused score / threshold" } td { (r.score.map(|v| format!("{v:.3}")).unwrap_or_else(|| "–".into())) " / " (format!("{:.3}", r.threshold)) } }
            @for m in &r.model_scores {
                tr { th { "  " (m.model) } td { "cosine " (format!("{:.3}", m.cosine)) ", z " (format!("{:.2}", m.z)) } }
            }
            tr { th { "detail" } td { (r.detail.clone().unwrap_or_default()) } }
        }
        h2 { "Audit" }
        table #audit { @for (k, v) in &audit { tr { th { (k) } td.mono { (v) } } } }
        h2 { "Decisions so far" }
        @if trail.is_empty() { p #trail { "None yet." } } @else {
            table #trail {
                tr { th { "#" } th { "officer" } th { "when (UTC)" } th { "decision" } th { "comment" } }
                @for a in &trail {
                    tr { td { (a.id) } td { (a.officer_id) } td { (utc(a.decided_at_ms)) }
                         td { span class={ "tag " (a.officer_decision) } { (a.officer_decision) } } td { (a.comment) } }
                }
            }
        }
        h2 { "Your decision" }
        form #decide method="post" action={ "/item/" (row) "/decide" } {
            input type="hidden" name="csrf" value=(s.csrf_token);
            @if item.approvable() {
                label { input #approve type="radio" name="decision" value="approve" required; " approve (same person: issue the credential)" } br;
            } @else {
                p { "Approval is not possible: " @if item.ktp_photo.is_none() { "no KTP-el photo in the gallery." } @else { "the row cannot be issued (" (r.review_reason) ")." } }
            }
            label { input #reject type="radio" name="decision" value="reject" required; " reject (different person or fraud suspected)" } br;
            label { input #in_person type="radio" name="decision" value="in_person" required; " in person (call the citizen to the office)" } br;
            p { label { "Comment" br; textarea #comment name="comment" rows="3" cols="60" maxlength=(MAX_COMMENT_CHARS) {} } }
            button #submit type="submit" { "Record decision" }
        }
    };
    Ok(Html(page(&format!("Request {}", r.request_id), Some(&s), body).into_string()).into_response())
}

fn utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

async fn photo(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    UrlPath((row, which)): UrlPath<(u64, String)>,
) -> Result<Response, Refusal> {
    let (s, _) = session(&app, &headers)?;
    let item = item_for(&app, &s, row)?;
    let which = Photo::parse(&which).ok_or(Refusal::NotFound)?;
    let bytes = match which {
        Photo::Selfie => app.queue.selfie(item),
        Photo::KtpEl => app.queue.ktp_photo(item),
    }
    .map_err(|_| Refusal::NotFound)?;
    // Logged before the bytes leave: a view that was served is a view that was recorded.
    app.store().log_photo_view(
        &s.officer.officer_id,
        app.queue.run_id(),
        &item.review.request_id,
        which.as_str(),
    )?;
    let mime = match image::guess_format(&bytes) {
        Ok(image::ImageFormat::Png) => "image/png",
        Ok(image::ImageFormat::WebP) => "image/webp",
        Ok(image::ImageFormat::Gif) => "image/gif",
        Ok(image::ImageFormat::Bmp) => "image/bmp",
        _ => "image/jpeg",
    };
    Ok(([(header::CONTENT_TYPE, mime)], bytes).into_response())
}

#[derive(Deserialize)]
struct DecideForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    comment: String,
}

async fn decide(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    UrlPath(row): UrlPath<u64>,
    Form(f): Form<DecideForm>,
) -> Result<Response, Refusal> {
    let (s, _) = session(&app, &headers)?;
    if !same_token(&s.csrf_token, &f.csrf) {
        return Err(Refusal::BadRequest(
            "The form's CSRF token is missing or wrong: reload the page.".into(),
        ));
    }
    let item = item_for(&app, &s, row)?;
    let decision = OfficerDecision::parse(&f.decision)
        .ok_or_else(|| Refusal::BadRequest("decision: approve, reject or in_person".into()))?;
    if decision == OfficerDecision::Approve && !item.approvable() {
        return Err(Refusal::BadRequest(
            "This row cannot be approved: it has no KTP-el photo in the gallery or cannot be issued.".into(),
        ));
    }
    if f.comment.chars().count() > MAX_COMMENT_CHARS {
        return Err(Refusal::BadRequest(format!(
            "comment: at most {MAX_COMMENT_CHARS} characters"
        )));
    }
    let r = &item.review;
    app.store().record(&NewAdjudication {
        run_id: app.queue.run_id(),
        request_id: &r.request_id,
        officer_id: &s.officer.officer_id,
        engine_decision: &r.decision,
        engine_reason: &r.review_reason,
        engine_score: r.score,
        threshold: r.threshold,
        decision,
        comment: f.comment.trim(),
    })?;
    Ok(Redirect::to(&format!("/item/{row}")).into_response())
}

/// Serves on a bound listener until `shutdown` completes (for `serve` and the browser tests).
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(app))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Serves until Ctrl-C.
pub fn serve(app: Arc<App>, listen: std::net::SocketAddr) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        eprintln!(
            "ikd review serve: run {} ({} items), listening on http://{}",
            app.queue.run_id(),
            app.queue.items.len(),
            listener.local_addr()?
        );
        serve_on(listener, app, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
        Ok(())
    })
}
