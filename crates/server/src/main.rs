//! The `gatehouse` binary: parse the command line, load the configuration, run the command.
//! Everything else lives in `cli` (what each command does) and `startup` (building and
//! running the server), so tests start exactly what operators start.

mod backup;
mod cli;
mod config;
mod startup;

use std::process::ExitCode;

fn main() -> ExitCode {
    let command = match cli::parse() {
        Ok(command) => command,
        Err(code) => return code,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return cli::fail(&format!("cannot start the async runtime: {error}")),
    };
    runtime.block_on(cli::run(command))
}
