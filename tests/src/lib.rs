//! Test support: a Zoom emulator and a bot-runner fake, both real HTTP servers on 127.0.0.1.
