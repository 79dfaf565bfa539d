// swift-tools-version: 6.1
import PackageDescription

let package = Package(
  name: "Curvature",
  products: [
    .library(name: "Curvature", targets: ["Curvature"]),
    .executable(name: "curv", targets: ["curv"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-numerics", from: "1.1.1"),
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
  ],
  targets: [
    // System libraries: each one C module, wrapped by exactly one Swift file in `CurvatureNumerics`.
    .systemLibrary(
      name: "COpenBLAS", path: "Sources/COpenBLAS", pkgConfig: "openblas",
      providers: [.apt(["libopenblas-dev"])]),
    .systemLibrary(
      name: "CLAPACKE", path: "Sources/CLAPACKE", pkgConfig: "lapacke",
      providers: [.apt(["liblapacke-dev"])]),
    .systemLibrary(
      name: "CFFTW", path: "Sources/CFFTW", pkgConfig: "fftw3",
      providers: [.apt(["libfftw3-dev"])]),
    .systemLibrary(
      name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
      providers: [.apt(["zlib1g-dev"])]),
    // MPI (MPICH's ABI), wrapped by exactly one Swift file in `CurvatureDistributed`. No
    // pkg-config and no link: libmpich is loaded at run time under mpiexec (see its shim.h).
    .systemLibrary(name: "CMPI", path: "Sources/CMPI"),

    // Kernels in C: AVX2/FMA functions chosen at run time after a CPU check (no compiler
    // flags), wrapped by exactly one Swift file in `CurvatureNumerics`.
    .target(name: "CCurvatureKernels", path: "Sources/CCurvatureKernels"),

    // Layer 1, numerics: BLASScalar, NDArray, the C wrappers, random numbers, kernels.
    .target(
      name: "CurvatureNumerics",
      dependencies: [
        "COpenBLAS", "CLAPACKE", "CFFTW", "CCurvatureKernels",
        .product(name: "Numerics", package: "swift-numerics"),
      ]),
    // Layer 2, linear algebra: linear operators, Krylov solvers, stochastic estimators.
    .target(
      name: "CurvatureLinearAlgebra",
      dependencies: ["CurvatureNumerics"]),
    // Layer 2, structured operators: Toeplitz, circulant and their preconditioners.
    .target(
      name: "CurvatureToeplitz",
      dependencies: ["CurvatureNumerics", "CurvatureLinearAlgebra"]),
    // Layer 2, data parallelism: communicators (single process or MPI), sharding, reproducible sums.
    .target(
      name: "CurvatureDistributed",
      dependencies: ["CMPI", "CurvatureNumerics"]),
    // Layer 3, reverse-mode automatic differentiation on Tensor.
    .target(
      name: "CurvatureAutodiff",
      dependencies: ["CurvatureNumerics"]),
    // Layer 4, neural networks: layers, losses, data, training, model and array files.
    .target(
      name: "CurvatureNN",
      dependencies: ["CZlib", "CurvatureNumerics", "CurvatureLinearAlgebra", "CurvatureAutodiff"]),
    // Layer 5, the umbrella: curvature operators, KFAC/EKFAC, diagonals; re-exports every layer
    // below, so `import Curvature` gives users the whole library.
    .target(
      name: "Curvature",
      dependencies: [
        "CurvatureNumerics", "CurvatureLinearAlgebra", "CurvatureToeplitz",
        "CurvatureAutodiff", "CurvatureNN",
        "CurvatureDistributed",
      ]),
    .target(
      name: "CurvatureTestSupport",
      dependencies: ["Curvature"]),
    .executableTarget(
      name: "curv",
      dependencies: [
        "Curvature",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]),
    // Tutorials: one executable per page in Tutorials/ (scripts/tutorials.sh runs each with --fast).
    .executableTarget(name: "GettingStartedTutorial", dependencies: ["Curvature"], path: "Tutorials/GettingStartedTutorial"),
    .executableTarget(name: "InfluenceFunctionsTutorial", dependencies: ["Curvature"], path: "Tutorials/InfluenceFunctionsTutorial"),
    .executableTarget(name: "KFACCheckedTutorial", dependencies: ["Curvature"], path: "Tutorials/KFACCheckedTutorial"),
    .executableTarget(name: "LaplaceApproximationTutorial", dependencies: ["Curvature"], path: "Tutorials/LaplaceApproximationTutorial"),
    .executableTarget(name: "LossLandscapeTutorial", dependencies: ["Curvature", "TutorialSupport"], path: "Tutorials/LossLandscapeTutorial"),
    .executableTarget(name: "ManyMachinesTutorial", dependencies: ["Curvature"], path: "Tutorials/ManyMachinesTutorial"),
    .executableTarget(name: "SecondOrderTrainingTutorial", dependencies: ["Curvature"], path: "Tutorials/SecondOrderTrainingTutorial"),
    .executableTarget(name: "ToeplitzTutorial", dependencies: ["Curvature"], path: "Tutorials/ToeplitzTutorial"),
    // What several tutorials share (the spectral-density figure); above Curvature, below the tutorials.
    .target(name: "TutorialSupport", dependencies: ["Curvature"], path: "Tutorials/TutorialSupport"),
    .executableTarget(name: "TrainingWithCockpitTutorial", dependencies: ["Curvature"], path: "Tutorials/TrainingWithCockpitTutorial"),
    // The exported GPT (gpt/) and the script that wrote it are read at run time, not compiled.
    .executableTarget(
      name: "TransformerCurvatureTutorial", dependencies: ["Curvature", "TutorialSupport"], path: "Tutorials/TransformerCurvatureTutorial",
      exclude: ["gpt", "export_gpt.py"]),
    // The MPI checks and all-reduce benchmark, run under mpiexec by scripts/mpi-tests.sh.
    .executableTarget(name: "CurvatureMPICheck", dependencies: ["CurvatureDistributed"]),
    .executableTarget(
      name: "CurvatureBenchmarks",
      dependencies: [
        "Curvature",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      path: "Benchmarks/CurvatureBenchmarks"),
    .testTarget(
      name: "CurvatureTests",
      dependencies: [
        "Curvature", "CurvatureTestSupport",
        .product(name: "Numerics", package: "swift-numerics"),
      ],
      // Reference files are read from the source tree (located through #filePath).
      exclude: ["Fixtures"]),
    // The documentation's snippets (Sources/Curvature/Curvature.docc), as a user's package
    // writes them: `import Curvature` and the public API only.
    .testTarget(name: "CurvatureUserTests", dependencies: ["Curvature"]),
  ],
  swiftLanguageModes: [.v6]
)
