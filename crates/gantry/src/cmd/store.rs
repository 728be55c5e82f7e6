//! `gantry store`: move an installation from one store to another (`migrate`), check that
//! two stores hold the same records (`verify`), and look at one (`status`). Run `migrate`
//! and `verify` with every server of both stores stopped.

use clap::{Args, Subcommand};
use gantry_store::Store;

use super::store_args::EtcdArgs;
use super::store_copy::{self, Limits};
use super::store_open::{self, Sqlite, Target};

#[derive(Debug, Subcommand)]
pub enum StoreCmd {
    /// Copy every record from one store into another, empty one, with the servers stopped:
    /// keys and values byte for byte (revisions are the destination's own); leased keys
    /// (the leader's election key) are runtime state and stay behind.
    Migrate(MigrateArgs),
    /// Compare two stores key by key and value by value; exits non-zero on any difference.
    Verify(PairArgs),
    /// What a store is and holds: kind, place, revision, number of keys, the leader.
    Status(StatusArgs),
}

#[derive(Debug, Args)]
pub struct PairArgs {
    /// The store to read, e.g. sqlite:///var/lib/gantry/server/gantry.db.
    #[arg(long, value_name = "URL")]
    pub from: String,
    /// The store to write (migrate) or compare with, e.g. etcd://h1:2379,h2:2379,h3:2379.
    #[arg(long, value_name = "URL")]
    pub to: String,
    /// For every etcd:// side.
    #[command(flatten)]
    pub etcd: EtcdArgs,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub pair: PairArgs,
    /// Compare both sides after the copy (as `gantry store verify` does).
    #[arg(long)]
    pub verify: bool,
    /// Operations per transaction (etcd's --max-txn-ops, default 128).
    #[arg(long, default_value = "128", value_parser = clap::value_parser!(u16).range(1..))]
    pub batch_ops: u16,
    /// Bytes per transaction (under etcd's --max-request-bytes, default 1.5 MiB).
    #[arg(long, default_value = "1048576", value_parser = clap::value_parser!(u32).range(4096..))]
    pub batch_bytes: u32,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The store, e.g. etcd://h1:2379 or sqlite:///var/lib/gantry/server/gantry.db.
    #[arg(long, env = "GANTRY_STORE", value_name = "URL")]
    pub store: String,
    #[command(flatten)]
    pub etcd: EtcdArgs,
}

pub async fn run(cmd: StoreCmd) -> anyhow::Result<()> {
    match cmd {
        StoreCmd::Migrate(a) => migrate(a).await,
        StoreCmd::Verify(a) => {
            let (from, to) = targets(&a)?;
            let source = store_open::open(&from, &a.etcd, Sqlite::Existing).await?;
            let destination = store_open::open(&to, &a.etcd, Sqlite::Existing).await?;
            verify(&source, &destination).await
        }
        StoreCmd::Status(a) => status(a).await,
    }
}

/// The two stores; the etcd flags are for the etcd side (or both), refused if neither is.
fn targets(a: &PairArgs) -> anyhow::Result<(Target, Target)> {
    let from = store_open::parse_any("--from", &a.from, &a.etcd)?;
    let to = store_open::parse_any("--to", &a.to, &a.etcd)?;
    if from == to {
        anyhow::bail!("--from and --to name the same store ({})", a.from);
    }
    if !matches!(from, Target::Etcd { .. }) && !matches!(to, Target::Etcd { .. }) {
        store_open::refuse_etcd_flags("neither --from nor --to is one", &a.etcd)?;
    }
    Ok((from, to))
}

async fn migrate(a: MigrateArgs) -> anyhow::Result<()> {
    let (from, to) = targets(&a.pair)?;
    let source = store_open::open(&from, &a.pair.etcd, Sqlite::Existing).await?;
    let destination = store_open::open(&to, &a.pair.etcd, Sqlite::Unused).await?;
    let leased = store_open::leased_keys(&source).await?;
    let limits = Limits {
        max_ops: usize::from(a.batch_ops),
        max_bytes: usize::try_from(a.batch_bytes).unwrap_or(usize::MAX),
    };
    let started = std::time::Instant::now();
    let copied = store_copy::copy(&source, &destination, &leased, limits).await?;
    println!(
        "copied {} records ({} bytes) from {} to {} in {} transactions, {:.1} s",
        copied.records,
        copied.bytes,
        source.describe(),
        destination.describe(),
        copied.transactions,
        started.elapsed().as_secs_f64()
    );
    if !copied.skipped.is_empty() {
        println!(
            "left behind {} leased key(s) (runtime state): {}",
            copied.skipped.len(),
            copied.skipped.join(", ")
        );
    }
    if a.verify {
        verify(&source, &destination).await?;
    }
    Ok(())
}

/// How many differences are printed before the count of the rest.
const SHOWN: usize = 20;

async fn verify(
    source: &store_open::AnyStore,
    destination: &store_open::AnyStore,
) -> anyhow::Result<()> {
    let mut leased = store_open::leased_keys(source).await?;
    leased.extend(store_open::leased_keys(destination).await?);
    let compared = store_copy::compare(source, destination, &leased).await?;
    let diffs = compared.differences;
    if diffs.is_empty() {
        println!(
            "verified: {} and {} hold the same {} records",
            source.describe(),
            destination.describe(),
            compared.records
        );
        return Ok(());
    }
    for d in diffs.iter().take(SHOWN) {
        println!("{d}");
    }
    if diffs.len() > SHOWN {
        println!("... and {} more", diffs.len() - SHOWN);
    }
    anyhow::bail!(
        "{} and {} differ in {} key(s)",
        source.describe(),
        destination.describe(),
        diffs.len()
    )
}

async fn status(a: StatusArgs) -> anyhow::Result<()> {
    let target = store_open::parse("--store", &a.store, &a.etcd)?;
    let store = store_open::open(&target, &a.etcd, Sqlite::Inspect).await?;
    let records = store.list("").await?;
    let bytes: usize = records.iter().map(|r| r.key.len() + r.value.len()).sum();
    println!("kind:      {}", store.kind());
    println!("where:     {}", store.describe());
    println!("revision:  {}", store.revision().await?);
    println!(
        "keys:      {} ({bytes} bytes of keys and values)",
        records.len()
    );
    let leader = match store.get(store_open::ELECTION_KEY).await? {
        Some(r) => String::from_utf8_lossy(&r.value).into_owned(),
        None => "none".to_string(),
    };
    println!("leader:    {leader}");
    Ok(())
}
