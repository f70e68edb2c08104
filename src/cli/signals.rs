//! SIGINT, SIGTERM and SIGHUP for commands that start sandboxes (`run`,
//! `bench`, `doctor`). The first signal cancels the returned token: the
//! backend kills the sandbox, removes it, and the execution is recorded as
//! `interrupted`. Later signals only say that this is under way: once a
//! handler is installed the default action (exit at once, leaving the
//! container) is gone for good, so a second Ctrl-C cannot skip the removal.
//!
//! This module never exits the process; the command returns its own exit
//! code (129) once the cleanup is done. Should cordon die anyway (SIGKILL),
//! the in-sandbox deadline ends the container and the next command that
//! opens the audit log removes it.

use tokio::signal::unix::{signal, SignalKind};

use crate::sandbox::CancelToken;

/// Installs the handlers and returns the token the first signal cancels.
/// Call it only after the blocking reads of the command's input, so that a
/// Ctrl-C while cordon waits for stdin still ends it at once.
pub(crate) fn cancel_on_signal() -> std::io::Result<CancelToken> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    let token = CancelToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        loop {
            let name = tokio::select! {
                Some(()) = interrupt.recv() => "SIGINT",
                Some(()) = terminate.recv() => "SIGTERM",
                Some(()) = hangup.recv() => "SIGHUP",
                else => break,
            };
            if cancel.is_cancelled() {
                eprintln!("cordon: {name}: still stopping and removing the sandbox");
            } else {
                eprintln!("cordon: {name}: stopping and removing the sandbox");
                cancel.cancel();
            }
        }
    });
    Ok(token)
}
