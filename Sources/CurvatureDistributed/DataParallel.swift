#if canImport(Glibc)
import Glibc
#endif

/// The choice between a single-process run and an MPI run.
///
/// ```swift
/// let communicator = DataParallel.communicator
/// let shard = try communicator.shard(of: dataSet.count)
/// // … local sums over `shard`, then `try communicator.allReduceSum(&sums)` …
/// if communicator.isRoot { print(result) }
/// communicator.finish()
/// ```
///
/// A process started by `mpiexec` (MPICH's Hydra launcher, or any PMI-based launcher such as
/// Slurm's `srun --mpi=pmi2`) finds `PMI_RANK` and `PMI_SIZE` in its environment (`PMIX_RANK`
/// with PMIx launchers); only then is MPI initialized. Without them no MPI function is
/// called and the communicator is a `SingleProcessCommunicator`, so the library, its tests
/// and `curv` run unchanged. `CURVATURE_MPI=0` forces a single process even under
/// `mpiexec` (every rank then works alone); `CURVATURE_MPI=1` forces MPI (a process started
/// without `mpiexec` becomes a one-rank MPI run, MPICH's singleton initialization).
public enum DataParallel {
  /// Whether this process runs under an MPI launcher (see the type's documentation); read
  /// once, from the environment, without calling MPI.
  public static let isLaunchedByMPI: Bool = {
    func variable(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }
    switch variable("CURVATURE_MPI") {
    case "0": return false
    case "1": return true
    default:
      return (variable("PMI_RANK") != nil && variable("PMI_SIZE") != nil) || variable("PMIX_RANK") != nil
    }
  }()

  /// The communicator of this process: `MPICommunicator.world` under an MPI launcher,
  /// otherwise a `SingleProcessCommunicator`. The first use under a launcher initializes
  /// MPI; from then on the process must end with `finish()` (or `abort(message:)`).
  public static let communicator: any Communicator =
    isLaunchedByMPI ? MPICommunicator.world : SingleProcessCommunicator()
}
