//! Test and benchmark stand-in for `gantry supervise <task_dir>`.

fn main() {
    let mut args = std::env::args_os().skip(1);
    let (Some(task_dir), None) = (args.next(), args.next()) else {
        eprintln!("usage: gantry-runtime-supervise <task_dir>");
        std::process::exit(2);
    };
    if let Err(e) = gantry_runtime::supervisor::run(std::path::Path::new(&task_dir)) {
        eprintln!("gantry supervisor: {e}");
        std::process::exit(1);
    }
}
