//! `gantry`: the one binary. `gantry server` runs the control plane, `gantry agent` the node
//! agent, `gantry dev` both in one process, and the other subcommands are the client.
//! `gantry supervise` is internal: the agent re-executes the binary as a task's supervisor.

mod client;
mod cmd;
mod config_file;
mod credentials_file;
mod creds;
mod hints;
mod logging;
mod notify;
mod suggest;
mod table;

fn main() -> std::process::ExitCode {
    // `gantry server` and `gantry agent` also read their configuration file.
    let cli = match config_file::parse() {
        Ok(cli) => cli,
        Err(e) => {
            eprintln!("gantry: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    // The supervisor must stay single-threaded (libcontainer forks): it never starts tokio.
    if let cmd::Command::Supervise { task_dir, salvage } = &cli.command {
        let done = match salvage {
            Some(cause) => gantry_runtime::supervisor::salvage(task_dir, cause),
            None => gantry_runtime::supervisor::run(task_dir),
        };
        return match done {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("gantry supervise: {e}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    logging::init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gantry: could not start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(cmd::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gantry: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
