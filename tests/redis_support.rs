//! Checks of the test harness' throwaway Redis ([`support::redis::RedisServer`]): it starts on a free
//! loopback port (never 6379), answers commands, goes away when killed, comes back on the same port when
//! restarted, and two servers never share a port.

mod support;

use std::io;
use std::time::Duration;

use support::redis::{RedisServer, Reply};

#[test]
fn starts_answers_and_renders_replies() {
    let redis = RedisServer::start();
    assert_ne!(redis.port(), 6379);
    assert_eq!(redis.url(), format!("redis://127.0.0.1:{}/", redis.port()));
    assert_eq!(redis.command(&["PING"]), "PONG");

    assert_eq!(redis.command(&["SET", "ragd:a", "héllo world"]), "OK");
    assert_eq!(redis.command(&["GET", "ragd:a"]), "héllo world");
    assert_eq!(redis.command(&["GET", "ragd:missing"]), "(nil)");
    assert_eq!(
        redis.reply(&["GET", "ragd:missing"]).unwrap(),
        Reply::Bulk(None)
    );
    assert_eq!(redis.command(&["SET", "ragd:b", "2", "EX", "100"]), "OK");
    let ttl: i64 = redis.command(&["TTL", "ragd:b"]).parse().unwrap();
    assert!((1..=100).contains(&ttl), "TTL {ttl}");
    assert_eq!(redis.command(&["SET", "other", "x"]), "OK");
    assert_eq!(redis.command(&["DBSIZE"]), "3");
    assert_eq!(redis.keys("ragd:*"), ["ragd:a", "ragd:b"]);
    assert_eq!(redis.command(&["KEYS", "nothing:*"]), "");
    assert_eq!(redis.command(&["PUBLISH", "ragd:events", "hi"]), "0");

    let error = redis.reply(&["INCR", "ragd:a"]).unwrap();
    assert!(error.is_error(), "{error:?}");
    assert!(
        redis.command(&["INCR", "ragd:a"]).starts_with("ERR "),
        "{error:?}"
    );

    // No persistence, and the data dir is the server's own.
    assert_eq!(redis.command(&["CONFIG", "GET", "save"]), "save\n");
    assert_eq!(
        redis.command(&["CONFIG", "GET", "appendonly"]),
        "appendonly\nno"
    );
}

#[test]
fn maxmemory_is_passed_on() {
    let redis = RedisServer::builder()
        .maxmemory("4mb")
        .maxmemory_policy("allkeys-lru")
        .start();
    assert_eq!(
        redis.command(&["CONFIG", "GET", "maxmemory"]),
        format!("maxmemory\n{}", 4 * 1024 * 1024)
    );
    assert_eq!(
        redis.command(&["CONFIG", "GET", "maxmemory-policy"]),
        "maxmemory-policy\nallkeys-lru"
    );
}

#[test]
fn kill_refuses_connections_and_restart_comes_back_empty_on_the_same_port() {
    let mut redis = RedisServer::start();
    let port = redis.port();
    let first_pid = redis.pid().unwrap();
    assert_eq!(redis.command(&["SET", "ragd:k", "v"]), "OK");

    redis.kill();
    assert_eq!(redis.pid(), None);
    let refused = redis.reply(&["PING"]).unwrap_err();
    assert_eq!(
        refused.kind(),
        io::ErrorKind::ConnectionRefused,
        "{refused}"
    );

    redis.restart();
    assert_eq!(redis.port(), port);
    assert_ne!(redis.pid(), Some(first_pid));
    assert_eq!(redis.command(&["PING"]), "PONG");
    assert_eq!(redis.command(&["DBSIZE"]), "0", "nothing is persisted");

    // Restarting a running server kills it first.
    redis.restart();
    assert_eq!(redis.command(&["PING"]), "PONG");
    assert_eq!(redis.port(), port);
}

#[test]
fn a_kept_connection_receives_published_messages() {
    let redis = RedisServer::start();
    let mut subscriber = redis.connect().unwrap();
    let subscribed = subscriber
        .command(&["SUBSCRIBE", "ragd:invalidate"])
        .unwrap();
    assert_eq!(subscribed.text(), "subscribe\nragd:invalidate\n1");
    assert_eq!(redis.command(&["PUBLISH", "ragd:invalidate", "key-1"]), "1");
    subscriber
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let message = subscriber.read().unwrap();
    assert_eq!(message.text(), "message\nragd:invalidate\nkey-1");
}

#[test]
fn servers_get_their_own_ports_and_data() {
    let one = RedisServer::start();
    let two = RedisServer::start();
    assert_ne!(one.port(), two.port());
    assert_eq!(one.command(&["SET", "ragd:only-one", "1"]), "OK");
    assert_eq!(one.command(&["DBSIZE"]), "1");
    assert_eq!(two.command(&["DBSIZE"]), "0");
}

#[test]
fn drop_stops_the_server() {
    let redis = RedisServer::start();
    let port = redis.port();
    drop(redis);
    let refused = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap_err();
    assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
}

#[test]
fn a_server_that_cannot_start_panics_with_its_log() {
    let failure = std::panic::catch_unwind(|| {
        RedisServer::builder().maxmemory("not-a-size").start();
    })
    .expect_err("redis-server started with --maxmemory not-a-size");
    let message = failure
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(message.contains("redis-server did not start"), "{message}");
    assert!(message.contains("maxmemory"), "no server log in: {message}");
}
