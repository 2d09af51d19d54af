//! The `gatehouse` binary: parse the command line, load the configuration, run the command.
//! Everything else lives in `cli` (what each command does), `startup` (building and
//! running the server) and `serving` (connections and their limits), so tests start
//! exactly what operators start.

mod backup;
mod cli;
mod config;
mod logging;
mod metrics_server;
mod serving;
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
