//! The local all-in-one server: every HTTP function on one port, the queue consumers and
//! the schedule in-process, all on embedded storage in a data folder.

mod config;
mod server;
mod worker;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::LocalConfig;

#[derive(Parser)]
#[command(
    name = "local-server",
    about = "Zoom OBF token back end, as one local process"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve every route on BIND_ADDR:PORT and run the queue consumers.
    Serve,
    /// Create a project and print its id, API key and signing secret as one JSON line.
    CreateProject {
        /// A name for the project.
        #[arg(long)]
        name: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    shared::telemetry::init_text();
    let cli = Cli::parse();
    let config = match LocalConfig::from_env() {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("invalid configuration:\n  {}", errors.join("\n  "));
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Serve => server::serve(config).await,
        Command::CreateProject { name } => server::create_project(config, &name).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
