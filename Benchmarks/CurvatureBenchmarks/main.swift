// CurvatureBenchmarks: release-mode performance benchmarks for Curvature.
//
//   swift run -c release CurvatureBenchmarks [--filter gemm] [--json]
//
// Each area registers its benchmarks from its own file (GemmBenchmarks.swift, …) through a
// `register…Benchmarks(in:)` function; add new areas to the list below.

import Foundation

import Curvature

NumericsBackend.retainFreedMemory()
NumericsBackend.sleepIdleBLASThreads()
let registry = BenchmarkRegistry()
registerGemmBenchmarks(in: registry)
registerAutodiffBenchmarks(in: registry)
registerCurvatureOperatorBenchmarks(in: registry)
registerKFACBenchmarks(in: registry)
registerSolverBenchmarks(in: registry)
registerToeplitzBenchmarks(in: registry)

exit(BenchmarkMain.run(registry, arguments: Array(CommandLine.arguments.dropFirst())))
