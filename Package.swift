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
  ],
  targets: [
    // System libraries: each one C module, wrapped by exactly one Swift file in `Curvature`.
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

    .target(
      name: "Curvature",
      dependencies: [
        "COpenBLAS", "CLAPACKE", "CFFTW", "CZlib",
        .product(name: "Numerics", package: "swift-numerics"),
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
    .executableTarget(name: "LossLandscapeTutorial", dependencies: ["Curvature"], path: "Tutorials/LossLandscapeTutorial"),
    .executableTarget(name: "SecondOrderTrainingTutorial", dependencies: ["Curvature"], path: "Tutorials/SecondOrderTrainingTutorial"),
    .executableTarget(name: "ToeplitzTutorial", dependencies: ["Curvature"], path: "Tutorials/ToeplitzTutorial"),
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
  ],
  swiftLanguageModes: [.v6]
)
