//! Checks of the test harness' headless Chromium ([`support::browser`]) against a tiny HTTP server of
//! the test: a page whose inline script fetches `/data.json` from the same server and renders it (a
//! line of text, an SVG polyline, `data-ready="yes"` on the body). The dumped DOM holding what only
//! the script could write proves the script ran and its fetch was answered.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::browser;

const PAGE: &str = r#"<!doctype html>
<html>
<head><meta charset="utf-8"><title>ragd browser check</title></head>
<body data-ready="no">
<p id="summary">loading</p>
<svg id="chart" xmlns="http://www.w3.org/2000/svg" width="200" height="100"></svg>
<script>
fetch("/data.json")
  .then((response) => response.json())
  .then((data) => {
    document.getElementById("summary").textContent = `${data.label}: ${data.points.length} points`;
    const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
    line.setAttribute("id", "line");
    line.setAttribute("points", data.points.map((y, i) => `${i * 40},${100 - y}`).join(" "));
    line.setAttribute("fill", "none");
    line.setAttribute("stroke", "steelblue");
    document.getElementById("chart").appendChild(line);
    document.body.dataset.ready = "yes";
  })
  .catch((error) => { document.body.dataset.ready = `error: ${error}`; });
</script>
</body>
</html>
"#;

const DATA: &str = r#"{"label": "hit ratio", "points": [10, 40, 25, 70, 55]}"#;

/// A loopback HTTP/1.1 server of [`PAGE`] at `/` and [`DATA`] at `/data.json` (404 otherwise), one
/// thread a connection; records the paths asked for. Stops accepting when dropped.
struct PageServer {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl PageServer {
    fn start() -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("binding 127.0.0.1:0");
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (log, stopping) = (requests.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let log = log.clone();
                std::thread::spawn(move || serve(stream, &log));
            }
        });
        Self {
            port,
            requests,
            stop,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for PageServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop up so that it sees the flag.
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
    }
}

/// Answers the requests of one connection (keep-alive) until the client closes it or stays idle.
fn serve(stream: TcpStream, log: &Mutex<Vec<String>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut writer = match stream.try_clone() {
        Ok(writer) => writer,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        // The headers: read and ignored (GET only, no body).
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            if header == "\r\n" || header == "\n" {
                break;
            }
        }
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("")
            .to_owned();
        log.lock().unwrap().push(path.clone());
        let (status, content_type, body) = match path.as_str() {
            "/" => ("200 OK", "text/html; charset=utf-8", PAGE),
            "/data.json" => ("200 OK", "application/json", DATA),
            _ => ("404 Not Found", "text/plain", "not found"),
        };
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
             Cache-Control: no-store\r\n\r\n{body}",
            body.len()
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

#[test]
fn dump_dom_runs_the_page_script_and_its_fetch() {
    let server = PageServer::start();
    let dom = browser::dump_dom(&server.url("/"), 5_000);
    assert!(
        dom.contains(r#"data-ready="yes""#),
        "the script did not finish:\n{dom}"
    );
    assert!(
        dom.contains(r#"<p id="summary">hit ratio: 5 points</p>"#),
        "{dom}"
    );
    assert!(
        dom.contains(r#"points="0,90 40,60 80,75 120,30 160,45""#),
        "no polyline drawn from /data.json:\n{dom}"
    );
    let requests = server.requests();
    assert!(
        requests.iter().any(|path| path == "/data.json"),
        "{requests:?}"
    );
}

#[test]
fn screenshot_writes_a_png_of_the_window_size() {
    let server = PageServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("page.png");
    browser::screenshot(&server.url("/"), &path, 5_000);
    let png = std::fs::read(&path).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    // IHDR, the first chunk: width and height, big-endian, at bytes 16..24.
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!((width, height), (1200, 800));
    assert!(
        server.requests().iter().any(|path| path == "/data.json"),
        "the page's script did not run before the screenshot"
    );
}
