//! Test support: a Zoom emulator and a bot-runner fake, both real HTTP servers on 127.0.0.1.

mod local_server;
pub mod runner_fake;
pub mod zoom_emulator;
