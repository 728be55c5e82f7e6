//! The address list and its backoff, as an agent with several `--server` URLs sees them.

use std::time::Duration;

use super::*;

#[test]
fn a_list_parses_in_order_without_repeats_or_trailing_slashes() {
    let s = Servers::parse(" https://a:1/ , https://b:2,https://a:1,, ").expect("parses");
    assert_eq!(s.urls(), ["https://a:1", "https://b:2"]);
    assert_eq!(s.current_url(), "https://a:1");
    assert!(s.is_tls());
    assert_eq!(s.flag_value(), "https://a:1,https://b:2");
    // One bare host:port, as `--server` always took it.
    assert_eq!(
        Servers::parse("h:8080").expect("bare").urls(),
        ["http://h:8080"]
    );
}

#[test]
fn bad_lists_are_refused_by_what_is_wrong() {
    assert!(matches!(Servers::parse(" , "), Err(ServersError::Empty)));
    assert!(matches!(
        Servers::parse("http://a:1,ftp://b"),
        Err(ServersError::BadUrl(u)) if u == "ftp://b"
    ));
    assert!(matches!(
        Servers::parse("https://a:1,http://b:2"),
        Err(ServersError::MixedSchemes(..))
    ));
}

#[test]
fn a_failure_moves_to_the_next_address_and_wraps_around() {
    let s = Servers::parse("http://a,http://b,http://c").expect("parses");
    let shared = s.clone();
    let first = s.current();
    assert_eq!(s.failed(&first).url, "http://b");
    // A clone sees the same address: registration, rotation and the session move together.
    assert_eq!(shared.current_url(), "http://b");
    let b = shared.current();
    assert_eq!(shared.failed(&b).url, "http://c");
    let c = s.current();
    assert_eq!(s.failed(&c).url, "http://a");
}

#[test]
fn two_callers_failing_on_one_address_move_once() {
    let s = Servers::parse("http://a,http://b,http://c").expect("parses");
    let seen_by_session = s.current();
    let seen_by_rotation = s.current();
    s.failed(&seen_by_session);
    // The rotation's failure was on `a` too: it must not skip `b`.
    assert_eq!(s.failed(&seen_by_rotation).url, "http://b");
}

#[test]
fn one_address_never_moves() {
    let s = Servers::one("http://only:1/");
    let c = s.current();
    assert_eq!(s.failed(&c).url, "http://only:1");
    assert!(!s.is_tls());
}

#[test]
fn the_backoff_tries_every_address_quickly_then_doubles_per_round() {
    let ms = Duration::from_millis;
    let mut b = Backoff::new(ms(100), ms(500), 2);
    // a fails: try b soon; b fails too: the round is over, wait and double.
    let waits: Vec<_> = (0..8).map(|_| b.failed()).collect();
    assert_eq!(
        waits,
        [
            ms(100),
            ms(100),
            ms(100),
            ms(200),
            ms(100),
            ms(400),
            ms(100),
            ms(500)
        ]
    );
    b.reset();
    assert_eq!((b.failed(), b.failed()), (ms(100), ms(100)));
}

#[test]
fn with_one_address_the_backoff_is_plain_doubling() {
    let ms = Duration::from_millis;
    let mut b = Backoff::new(ms(100), ms(5000), 1);
    let waits: Vec<_> = (0..4).map(|_| b.failed()).collect();
    assert_eq!(waits, [ms(100), ms(200), ms(400), ms(800)]);
}
