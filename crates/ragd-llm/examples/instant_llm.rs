//! An OpenAI-compatible chat server that answers at once, for load tests of ragd's LLM nodes without a
//! real model: point a provider's `base_url` at it and measure ragd alone.
//!
//! ```text
//! cargo run --release -p ragd-llm --features test-server --example instant_llm -- \
//!     --port 8091 --reply "Paris is the capital of France." [--tokens-per-chunk 4] [--delay-ms 0] [--echo]
//! ```
//! Then `base_url = "http://127.0.0.1:8091/v1"`. Requests are not recorded (they would pile up); stop it
//! with Ctrl-C.

use std::net::SocketAddr;
use std::time::Duration;

use ragd_llm::test_server::{Behaviour, OpenAiTestServer};

const USAGE: &str = "usage: instant_llm [--port N] [--reply TEXT | --echo] [--tokens-per-chunk N] \
                     [--first-token-ms N] [--delay-ms N]";

struct Args {
    port: u16,
    behaviour: Behaviour,
}

fn parse_args() -> Result<Args, String> {
    let mut port = 8091;
    let mut behaviour = Behaviour::reply("This is an instant answer from the load-test LLM.")
        .record_requests(false);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        let number = |text: String| {
            text.parse::<u64>()
                .map_err(|e| format!("{flag}: {e}\n{USAGE}"))
        };
        match flag.as_str() {
            "--port" => port = number(value()?)? as u16,
            "--reply" => behaviour.reply = ragd_llm::test_server::Reply::Text(value()?),
            "--echo" => behaviour.reply = ragd_llm::test_server::Reply::EchoLastUser,
            "--tokens-per-chunk" => {
                behaviour = behaviour.tokens_per_chunk(number(value()?)? as usize);
            }
            "--first-token-ms" => {
                behaviour = behaviour.first_token_delay(Duration::from_millis(number(value()?)?));
            }
            "--delay-ms" => {
                behaviour = behaviour.chunk_delay(Duration::from_millis(number(value()?)?));
            }
            "--help" | "-h" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(Args { port, behaviour })
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], args.port));
    let server = match OpenAiTestServer::start_on(addr, args.behaviour).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("cannot listen on {addr}: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    println!("instant LLM listening: base_url = {}", server.base_url());
    tokio::select! {
        () = server.run_until_stopped() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    std::process::ExitCode::SUCCESS
}
