use std::collections::BTreeSet;

use gantry_store::{Op, SqliteStore, Store};

use super::{compare, copy, CopyError, Difference, Limits};

async fn fill(store: &SqliteStore, records: &[(&str, Vec<u8>)]) {
    let ops = records
        .iter()
        .map(|(k, v)| Op::Put {
            key: (*k).to_string(),
            value: v.clone(),
        })
        .collect();
    let out = store.txn(vec![], ops).await.expect("fill");
    assert!(out.succeeded);
}

fn none() -> BTreeSet<String> {
    BTreeSet::new()
}

#[tokio::test]
async fn every_record_is_copied_byte_for_byte_in_bounded_batches() {
    let src = SqliteStore::open_in_memory().expect("open");
    let dst = SqliteStore::open_in_memory().expect("open");
    let keys: Vec<String> = (0..1000).map(|i| format!("tasks/c/{i:05}")).collect();
    let mut records: Vec<(&str, Vec<u8>)> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.as_str(), format!("{{\"n\":{i}}}").into_bytes()))
        .collect();
    // Bytes that are not UTF-8, an empty value and a big one survive as they are.
    records.push(("raw/binary", vec![0, 255, 254, 10, 13, 0]));
    records.push(("raw/empty", Vec::new()));
    records.push(("raw/big", vec![7u8; 600_000]));
    fill(&src, &records).await;
    let limits = Limits {
        max_ops: 100,
        max_bytes: 700_000,
    };
    let copied = copy(&src, &dst, &none(), limits).await.expect("copy");
    assert_eq!(copied.records, 1003);
    assert!(copied.skipped.is_empty());
    // 1003 records in batches of at most 100, the big value alone in its own.
    assert!(copied.transactions >= 11, "{copied:?}");
    assert_eq!(
        compare(&src, &dst, &none())
            .await
            .expect("compare")
            .differences,
        vec![]
    );
    let big = dst.get("raw/big").await.expect("get").expect("present");
    assert_eq!(big.value, vec![7u8; 600_000]);
    let bin = dst.get("raw/binary").await.expect("get").expect("present");
    assert_eq!(bin.value, vec![0, 255, 254, 10, 13, 0]);
}

#[tokio::test]
async fn leased_keys_are_neither_copied_nor_compared() {
    let src = SqliteStore::open_in_memory().expect("open");
    let dst = SqliteStore::open_in_memory().expect("open");
    fill(
        &src,
        &[
            ("ha/leader", b"replica-1".to_vec()),
            ("clusters/a", b"{}".to_vec()),
        ],
    )
    .await;
    let leased: BTreeSet<String> = ["ha/leader".to_string()].into();
    let copied = copy(&src, &dst, &leased, Limits::default())
        .await
        .expect("copy");
    assert_eq!(copied.records, 1);
    assert_eq!(copied.skipped, vec!["ha/leader".to_string()]);
    assert!(dst.get("ha/leader").await.expect("get").is_none());
    assert_eq!(
        compare(&src, &dst, &leased)
            .await
            .expect("compare")
            .differences,
        vec![]
    );
}

#[tokio::test]
async fn a_destination_that_is_not_empty_is_refused_and_left_alone() {
    let src = SqliteStore::open_in_memory().expect("open");
    let dst = SqliteStore::open_in_memory().expect("open");
    fill(&src, &[("clusters/a", b"new".to_vec())]).await;
    fill(&dst, &[("clusters/z", b"old".to_vec())]).await;
    let err = copy(&src, &dst, &none(), Limits::default())
        .await
        .expect_err("refused");
    assert!(matches!(err, CopyError::NotEmpty { count: 1, .. }), "{err}");
    assert!(err.to_string().contains("clusters/z"), "{err}");
    assert!(dst.get("clusters/a").await.expect("get").is_none());
}

#[tokio::test]
async fn a_value_too_big_for_one_transaction_is_named() {
    let src = SqliteStore::open_in_memory().expect("open");
    let dst = SqliteStore::open_in_memory().expect("open");
    fill(&src, &[("blobs/huge", vec![1u8; 2 << 20])]).await;
    let err = copy(&src, &dst, &none(), Limits::default())
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("blobs/huge"), "{err}");
    assert!(err.to_string().contains("--max-request-bytes"), "{err}");
}

#[tokio::test]
async fn compare_names_every_difference_in_key_order() {
    let src = SqliteStore::open_in_memory().expect("open");
    let dst = SqliteStore::open_in_memory().expect("open");
    fill(
        &src,
        &[
            ("a", b"1".to_vec()),
            ("b", b"2".to_vec()),
            ("c", b"3".to_vec()),
        ],
    )
    .await;
    fill(
        &dst,
        &[
            ("b", b"2".to_vec()),
            ("c", b"three".to_vec()),
            ("d", b"4".to_vec()),
        ],
    )
    .await;
    let diffs = compare(&src, &dst, &none())
        .await
        .expect("compare")
        .differences;
    assert_eq!(
        diffs,
        vec![
            Difference::OnlyInSource("a".into()),
            Difference::ValueDiffers {
                key: "c".into(),
                source_bytes: 1,
                destination_bytes: 5
            },
            Difference::OnlyInDestination("d".into()),
        ]
    );
    assert_eq!(
        diffs[1].to_string(),
        "c: the values differ (source 1 bytes, destination 5 bytes)"
    );
}
