//! The review page in a real headless browser (Debian's chromium driven through chromedriver
//! by fantoccini, a WebDriver client), on the demo run: log in, see only the assigned
//! province, open an item, approve one row and reject another, then `ikd review issue`
//! issues exactly one credential. `.ci/run` installs chromium and chromium-driver; without
//! them this test fails unless IKD_SKIP_BROWSER_TESTS=1. With IKD_SCREENSHOTS_DIR set it saves
//! the screenshots for docs/.

use super::common::fixture;
use super::review::{setup, PASSWORD};
use fantoccini::{Client, ClientBuilder, Locator};
use ikd_pipelines::review::store::Store;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn find_program(names: &[&str]) -> Option<PathBuf> {
    names.iter().map(PathBuf::from).find(|p| p.is_file())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn save_screenshot(png: &[u8], name: &str) {
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    if let Some(dir) = std::env::var_os("IKD_SCREENSHOTS_DIR") {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(Path::new(&dir).join(name), png).unwrap();
    }
}

async fn connect(port: u16, chromium: &Path) -> Client {
    let caps = serde_json::json!({
        "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-extensions", "--no-first-run",
                     "--window-size=1280,1500"],
        }
    });
    let caps = caps.as_object().unwrap().clone();
    // chromedriver takes a moment to listen.
    poll("chromedriver did not start a session", async || {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .ok()
    })
    .await
}

/// Asks `probe` every 100 ms until it gives a value, for at most 30 s (then fails with `what`):
/// the browser answers a click or a `goto` before the page it started loading is there.
async fn poll<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the page that a click started loading is at `path`: a click returns before the
/// browser has followed the form's redirect.
async fn wait_for_path(c: &Client, path: &str) {
    poll(&format!("the browser never reached {path}"), async || {
        let there = c.current_url().await.is_ok_and(|u| u.path() == path)
            && c.execute("return document.readyState", vec![])
                .await
                .is_ok_and(|s| s == "complete");
        there.then_some(())
    })
    .await
}

/// The page's source once it contains `text`: under load, chromedriver's `goto` can return
/// before the new document is there (its source then reads empty).
async fn wait_for_text(c: &Client, text: &str) -> String {
    poll(&format!("the page never showed {text:?}"), async || {
        c.source().await.ok().filter(|source| source.contains(text))
    })
    .await
}

/// Picks a decision on the open item page, comments, submits, and returns the decision trail
/// once the reloaded page shows the new decision.
async fn decide(c: &Client, decision: &str, comment: &str) -> String {
    c.find(Locator::Id(decision)).await.unwrap().click().await.unwrap();
    c.find(Locator::Id("comment"))
        .await
        .unwrap()
        .send_keys(comment)
        .await
        .unwrap();
    c.find(Locator::Id("submit")).await.unwrap().click().await.unwrap();
    // (The old page, or none while the new one loads: look again.)
    poll(
        &format!("the {decision} decision never showed in the trail"),
        async || {
            let text = c.find(Locator::Css("table#trail")).await.ok()?.text().await.ok()?;
            (text.contains(decision) && text.contains(comment)).then_some(text)
        },
    )
    .await
}

#[test]
fn officers_review_in_a_real_browser() {
    let (Some(chromium), Some(chromedriver)) = (
        find_program(&["/usr/bin/chromium", "/usr/bin/chromium-browser"]),
        find_program(&["/usr/bin/chromedriver"]),
    ) else {
        if std::env::var_os("IKD_SKIP_BROWSER_TESTS").is_some() {
            eprintln!("browser test skipped (IKD_SKIP_BROWSER_TESTS)");
            return;
        }
        panic!("chromium and chromedriver are needed (apt-get install chromium chromium-driver), or set IKD_SKIP_BROWSER_TESTS=1");
    };
    let s = setup("browser");
    assert!(
        s.approvable.len() >= 2,
        "the demo queue needs two approvable items of one province"
    );
    let (approve_row, reject_row) = (s.approvable[0], s.approvable[1]);
    let province = format!("{:02}", s.queue_province);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = rt.spawn(ikd_pipelines::review::web::serve_on(listener, s.app.clone(), async {
        let _ = stopped.await;
    }));
    let port = free_port();
    let _driver = Driver(
        Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver"),
    );

    rt.block_on(async {
        let c = connect(port, &chromium).await;
        // Log in.
        c.goto(&format!("{base}/queue")).await.unwrap();
        assert!(
            c.current_url().await.unwrap().path().ends_with("/login"),
            "no session: the login page"
        );
        c.find(Locator::Id("officer_id"))
            .await
            .unwrap()
            .send_keys("jakarta")
            .await
            .unwrap();
        c.find(Locator::Id("password"))
            .await
            .unwrap()
            .send_keys(PASSWORD)
            .await
            .unwrap();
        c.find(Locator::Id("login")).await.unwrap().click().await.unwrap();
        wait_for_path(&c, "/queue").await;
        assert_eq!(
            c.find(Locator::Id("officer")).await.unwrap().text().await.unwrap(),
            "jakarta"
        );

        // Only the assigned province.
        let rows = c.find_all(Locator::Css("tr.item")).await.unwrap();
        let expected = s
            .app
            .queue
            .items
            .iter()
            .filter(|i| i.province == Some(s.queue_province))
            .count();
        assert_eq!(rows.len(), expected);
        for r in &rows {
            assert_eq!(
                r.attr("data-province").await.unwrap().as_deref(),
                Some(province.as_str())
            );
        }
        save_screenshot(&c.screenshot().await.unwrap(), "review-queue.png");

        // Open an item from the queue and approve it.
        c.find(Locator::Css(&format!("a[href='/item/{approve_row}']")))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_for_path(&c, &format!("/item/{approve_row}")).await;
        let request_id = c.find(Locator::Id("request_id")).await.unwrap().text().await.unwrap();
        assert_eq!(request_id, s.app.queue.item(approve_row).unwrap().review.request_id);
        // Both photos loaded (the browser fetched them through the logged photo route).
        let fetched = c
            .execute(
                "return performance.getEntriesByType('resource').filter(e => e.name.includes('/photo/')).length",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(fetched.as_u64(), Some(2), "the selfie and the KTP-el photo");
        tokio::time::sleep(Duration::from_millis(500)).await;
        save_screenshot(&c.screenshot().await.unwrap(), "review-item.png");
        let trail = decide(&c, "approve", "same person: glasses, older photo").await;
        assert!(trail.contains("approve") && trail.contains("jakarta"), "{trail}");

        // Another row: reject.
        c.goto(&format!("{base}/item/{reject_row}")).await.unwrap();
        let trail = decide(&c, "reject", "different person").await;
        assert!(trail.contains("reject"), "{trail}");

        // Another province's item, by URL: refused.
        if let Some(other) = s.app.queue.items.iter().find(|i| i.province != Some(s.queue_province)) {
            c.goto(&format!("{base}/item/{}", other.review.input_row))
                .await
                .unwrap();
            let body = wait_for_text(&c, "not assigned").await;
            assert!(!body.contains("/photo/") && !body.contains(r#"id="approve""#), "{body}");
        }

        // The run report, as a page.
        let report = s.out.join("report.html");
        ikd_pipelines::report::write_report(&s.out, &report).unwrap();
        c.set_window_size(1100, 3000).await.unwrap();
        c.goto(&format!("file://{}", report.display())).await.unwrap();
        save_screenshot(&c.screenshot().await.unwrap(), "run-report.png");
        c.close().await.unwrap();
    });
    let _ = stop.send(());
    rt.block_on(server).unwrap().unwrap();

    // The database holds both decisions.
    let store = Store::open(&s.db).unwrap();
    let all = store.adjudications(Some(s.app.queue.run_id())).unwrap();
    let got: Vec<(&str, &str)> = all
        .iter()
        .map(|a| (a.officer_id.as_str(), a.officer_decision.as_str()))
        .collect();
    assert_eq!(got, [("jakarta", "approve"), ("jakarta", "reject")]);
    assert_eq!(
        all[0].request_id,
        s.app.queue.item(approve_row).unwrap().review.request_id
    );
    let views = store.photo_views().unwrap();
    assert!(views.iter().filter(|v| v.photo == "selfie").count() >= 2, "{views:?}");
    // ... and `ikd review export` writes them next to the run.
    let export = Command::new(env!("CARGO_BIN_EXE_ikd"))
        .args(["review", "export", "--run"])
        .arg(&s.out)
        .arg("--db")
        .arg(&s.db)
        .output()
        .unwrap();
    assert!(export.status.success(), "{}", String::from_utf8_lossy(&export.stderr));
    let exported = super::review::read_table_file(&s.out.join("adjudications.parquet"));
    let decisions: Vec<&str> = exported.iter().map(|r| r["officer_decision"].as_str()).collect();
    assert_eq!(decisions, ["approve", "reject"]);
    assert_eq!(exported[0]["request_id"], all[0].request_id);
    assert_eq!(exported[0]["officer_id"], "jakarta");

    // Issue after approval: exactly one credential, and a second call issues none.
    let issue = || {
        let out = Command::new(env!("CARGO_BIN_EXE_ikd"))
            .args(["review", "issue", "--run"])
            .arg(&s.out)
            .arg("--db")
            .arg(&s.db)
            .arg("--keys")
            .arg(&fixture().keys)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let first = issue();
    assert!(
        first.contains("approved: 1, issued before: 0, issued now: 1"),
        "{first}"
    );
    let second = issue();
    assert!(
        second.contains("approved: 1, issued before: 1, issued now: 0"),
        "{second}"
    );
    let issued = super::common::read_table(&s.out.join("adjudicated"));
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0]["request_id"], all[0].request_id);
    assert_eq!(issued[0]["decision"], "match");
    assert_ne!(issued[0]["credential"], "NULL");
    let outbox = super::common::read_table(&s.out.join("outbox").join("adjudicated"));
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0]["credential"], issued[0]["credential"]);

    // An officer changes their mind after the credential went out: a new row, nothing issued or
    // undone, and `issue` says which credential to revoke.
    let approved = &all[0];
    store
        .record(&ikd_pipelines::review::store::NewAdjudication {
            run_id: &approved.run_id,
            request_id: &approved.request_id,
            officer_id: "jakarta",
            engine_decision: &approved.engine_decision,
            engine_reason: &approved.engine_reason,
            engine_score: approved.engine_score,
            threshold: approved.threshold,
            decision: ikd_pipelines::review::store::OfficerDecision::Reject,
            comment: "second look: not the same person",
        })
        .unwrap();
    let third = Command::new(env!("CARGO_BIN_EXE_ikd"))
        .args(["review", "issue", "--run"])
        .arg(&s.out)
        .arg("--db")
        .arg(&s.db)
        .arg("--keys")
        .arg(&fixture().keys)
        .output()
        .unwrap();
    assert!(third.status.success());
    assert!(String::from_utf8_lossy(&third.stdout).contains("approved: 0, issued before: 0, issued now: 0"));
    let warning = String::from_utf8_lossy(&third.stderr);
    assert!(
        warning.contains(&approved.request_id) && warning.contains("revoke"),
        "{warning}"
    );
    assert_eq!(super::common::read_table(&s.out.join("adjudicated")).len(), 1);
    assert_eq!(store.adjudications(None).unwrap().len(), 3);
}
