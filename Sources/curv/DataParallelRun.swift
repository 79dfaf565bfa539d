import Curvature
import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

// `mpiexec -n K curv <subcommand> …`: the same command line, data-parallel. The
// communicator is chosen once, at start-up (MPI only when the process was started by an
// MPI launcher; otherwise no MPI library is even loaded); the curvature problem of
// `DataOptions.load` takes it, so every rank reads its shard of the data and the
// products are summed over the ranks. Solvers and estimators run replicated with the same
// seeds; only rank 0 prints (the other ranks' stdout goes to /dev/null) and writes files
// (`writeAtomically`); an error on any rank stops every rank with its one line
// (`Curv.main`); every rank ends with `finish()`.

/// The communicator of this run: `MPICommunicator.world` under `mpiexec`, else this
/// process alone.
let runCommunicator: any Communicator = DataParallel.communicator

/// Joins the ranks (initializing MPI under `mpiexec`) and silences the standard output of
/// every rank but 0, so that reports and JSON are printed once.
func startDataParallelRun() {
  let communicator = runCommunicator
  guard !communicator.isRoot else { return }
  let null = open("/dev/null", O_WRONLY)
  if null >= 0 {
    dup2(null, STDOUT_FILENO)
    close(null)
  }
}
