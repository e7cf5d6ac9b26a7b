#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Ctrl-C and SIGTERM for the long-running commands that must clean up before they go
/// (`sluice encode`, `presets explain`, the encoder worker): the first signal asks the
/// work to stop at its next check; a second one ends the process at once, as people
/// expect of a second Ctrl-C. The handler only stores a number and, the second time,
/// calls `_exit`: both are safe in a signal handler.
public enum StopSignal {
    /// The signal received (SIGINT or SIGTERM), or 0.
    public static var received: Int32 { stopSignalReceived.load(ordering: .relaxed) }

    /// The exit status that says which signal stopped the command: 130 for SIGINT,
    /// 143 for SIGTERM, as shells report them.
    public static var exitStatus: Int32 { 128 + received }

    /// Installs the handlers for `signals` and unblocks them on the calling thread.
    /// `exitAtOnce`: for commands with nothing to clean up, the first signal ends the
    /// process with 130 / 143 as a normal exit.
    public static func install(_ signals: [Int32] = [SIGINT, SIGTERM], exitAtOnce: Bool = false) {
        var action = sigaction()
        if exitAtOnce {
            action.__sigaction_handler.sa_handler = { number in _exit(128 + number) }
        } else {
            action.__sigaction_handler.sa_handler = { number in
                let (exchanged, _) = stopSignalReceived.compareExchange(expected: 0, desired: number, ordering: .relaxed)
                if !exchanged { _exit(128 + number) }
            }
        }
        sigemptyset(&action.sa_mask)
        action.sa_flags = SA_RESTART
        var unblock = sigset_t()
        sigemptyset(&unblock)
        for number in signals {
            sigaction(number, &action, nil)
            sigaddset(&unblock, number)
        }
        pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
    }

    /// Clears the signal mask of the calling thread. Called before `exec`: a thread of
    /// Swift's concurrency pool blocks SIGINT and SIGTERM, and a mask survives `exec`,
    /// which left `sluice encode` deaf to Ctrl-C.
    public static func unblockAll() {
        var empty = sigset_t()
        sigemptyset(&empty)
        pthread_sigmask(SIG_SETMASK, &empty, nil)
    }
}

private let stopSignalReceived = Atomic<Int32>(0)
