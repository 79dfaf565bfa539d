import ArgumentParser
import Curvature
import Foundation

/// `curv demo`: the library at work on built-in data, no files needed.
struct Demo: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Train a small MLP on built-in data and show its curvature (no files needed).",
    discussion: """
      Example: curv demo --output spectrum.svg

      Trains a 2-32-32-3 tanh MLP on a three-class spiral (300 points) with Adam, then \
      shows the top Hessian and GGN eigenvalues (Lanczos), exact and Hutch++ traces, how \
      close KFAC and EKFAC are to the GGN, conjugate gradients on the damped GGN with and \
      without the KFAC preconditioner, and writes the Hessian's spectral density (SLQ) as an \
      SVG plot. Everything is seeded: the numbers are the same on every run.
      """)

  @Option(help: ArgumentHelp("Where to write the spectral density plot.", valueName: "spectrum.svg"))
  var output: String = "curv-demo-spectrum.svg"

  @Option(help: ArgumentHelp("Threads for BLAS and LAPACK, at most the processors OpenBLAS sees (default: 1; the demo's matrices are too small to gain from more).", valueName: "N"))
  var threads: Int?

  /// A smaller network and data set, for the test suite's debug builds.
  @Flag(help: .hidden)
  var small = false

  func validate() throws {
    try BLASThreads.validate(threads)
  }

  func run() throws {
    try checkOutputPath(output)
    // One thread by default: the products are small, and idle BLAS threads spinning on a
    // busy machine cost more than they save.
    NumericsBackend.threadCount = threads ?? 1
    try DemoRun(small: small, output: output).run()
  }
}

/// The demo's steps; all in float64, all seeded.
struct DemoRun {
  var small: Bool
  var output: String
  let progress = ProgressBar(enabled: true)

  var hidden: Int { small ? 8 : 32 }
  var pointsPerClass: Int { small ? 30 : 100 }
  var epochs: Int { small ? 40 : 60 }

  func run() throws {
    let start = ContinuousClock.now
    let (inputs, labels) = spiral(pointsPerClass: pointsPerClass, classes: 3, seed: 7)
    let data = try ArrayDataset(inputs: inputs, targets: .classes(labels))
    var model = try Sequential<Double>(
      [Linear(inFeatures: 2, outFeatures: hidden), Tanh(), Linear(inFeatures: hidden, outFeatures: hidden), Tanh(),
       Linear(inFeatures: hidden, outFeatures: 3)], seed: 0)
    let loss = Loss<Double>(.crossEntropy)
    let p = model.parameterCount
    print("Curvature demo: a 2-\(hidden)-\(hidden)-3 tanh MLP (P = \(p) parameters) on a three-class spiral (N = \(data.count) points), float64, \(NumericsBackend.threadCount) BLAS thread\(NumericsBackend.threadCount == 1 ? "" : "s")")

    // 1. Training.
    var section = ContinuousClock.now
    var optimizer = Adam<Double>(learningRate: 0.01)
    let losses = try train(&model, loss: loss, data: data, optimizer: &optimizer, epochs: epochs, batchSize: 32, seed: 1) { epoch, _ in
      progress.update(task: "training", completed: epoch, total: epochs)
    }
    progress.finish()
    let predictions = model.predict(inputs)
    let correct = (0..<data.count).filter { i in
      let row = predictions.scalars[(3 * i)..<(3 * i + 3)]
      return row.firstIndex(of: row.max()!)! - 3 * i == labels[i]
    }.count
    heading("Training: Adam (learning rate 0.01), \(epochs) epochs in batches of 32", section)
    print("  loss \(formatNumber(Double(losses.first ?? .nan), significant: 4)) → \(formatNumber(Double(losses.last ?? .nan), significant: 4)), training accuracy \(String(format: "%.1f", 100 * Double(correct) / Double(data.count)))%")

    let problem = try CurvatureProblem(model: model, loss: loss, data: data)
    let hessian = HessianOperator(problem), ggn = GGNOperator(problem)

    // 2. Top eigenvalues.
    section = ContinuousClock.now
    let k = 5
    let options = LanczosOptions(count: k, which: .largest, tolerance: 1e-8, seed: 1)
    let topH = try lanczosEigenpairs(hessian, options: options, onProgress: progress.handler)
    progress.finish()
    let topG = try lanczosEigenpairs(ggn, options: options, onProgress: progress.handler)
    progress.finish()
    for result in [topH, topG] where !result.converged {
      throw CLIError("Lanczos did not converge after \(result.iterations) restarts (\(result.matvecs) matvecs)")
    }
    heading("Top \(k) eigenvalues (Lanczos, tolerance 1e-8)", section)
    var table = TextTable(["#", "Hessian", "GGN"])
    for i in 0..<k {
      table.add(["\(i + 1)", formatScientific(topH.eigenvalues[i], digits: 5), formatScientific(topG.eigenvalues[i], digits: 5)])
    }
    table.add(["matvecs", "\(topH.matvecs)", "\(topG.matvecs)"])
    print(table.text)

    // 3. Traces.
    section = ContinuousClock.now
    let budget = 99
    progress.update(task: "exact Hessian trace", completed: 0, total: 1)
    let exactH = try hessian.trace()
    let exactG = try ggn.trace()
    progress.finish()
    let hutchH = try hutchPlusPlusTrace(hessian, matvecs: budget, seed: 2, onProgress: progress.handler)
    progress.finish()
    let hutchG = try hutchPlusPlusTrace(ggn, matvecs: budget, seed: 2, onProgress: progress.handler)
    progress.finish()
    heading("Traces: exact (diagonal) and Hutch++ (\(budget) matvecs)", section)
    table = TextTable(["", "exact", "Hutch++", "relative error"])
    for (name, exact, estimate) in [("Hessian", exactH, hutchH), ("GGN", exactG, hutchG)] {
      table.add([name, formatNumber(exact, significant: 8), formatNumber(estimate.value, significant: 8),
                 formatScientific(Swift.abs(estimate.value - exact) / Swift.abs(exact), digits: 1)])
    }
    print(table.text)

    // 4. Kronecker-factored approximations of the GGN.
    section = ContinuousClock.now
    let denseG = try denseMatrix(ggn, progress: progress, task: "dense GGN")
    progress.finish()
    let normG = denseG.norm()
    var rows: [(String, String)] = []
    let kfacType2 = try KFACOperator(problem, options: KFACOptions(fisherType: .type2))
    for (name, choice) in [
      ("KFAC (type-2)", OperatorChoice(kind: .kfac, kfac: KFACOptions(fisherType: .type2))),
      ("KFAC (mc, 1 sample)", OperatorChoice(kind: .kfac, kfac: KFACOptions(fisherType: .mc, seed: 3))),
      ("EKFAC (type-2)", OperatorChoice(kind: .ekfac, kfac: KFACOptions(fisherType: .type2))),
    ] {
      let approximation = choice.kind == .kfac && choice.kfac.fisherType == .type2
        ? kfacType2 : try makeOperator(choice, problem: problem)
      let dense = try denseMatrix(approximation, progress: progress, task: "dense \(name)")
      progress.finish()
      rows.append((name, formatNumber((dense - denseG).norm() / normG, significant: 4)))
    }
    heading("Kronecker-factored approximations of the GGN: ‖K − G‖_F / ‖G‖_F", section)
    table = TextTable(["", "relative error"])
    for (name, value) in rows { table.add([name, value]) }
    print(table.text)

    // 5. Damped solves with and without the KFAC preconditioner.
    section = ContinuousClock.now
    let damping = 1e-3 * topG.eigenvalues[0]
    let (_, gradient) = try problem.lossAndGradient()
    let system = ggn.damped(by: damping)
    let cgOptions = ConjugateGradientOptions(relativeTolerance: 1e-6, maxIterations: 4 * p)
    let plain = try conjugateGradient(system, gradient, options: cgOptions, onProgress: progress.handler)
    progress.finish()
    let preconditioned = try conjugateGradient(
      system, gradient, preconditioner: try kfacType2.inverse(damping: damping), options: cgOptions, onProgress: progress.handler)
    progress.finish()
    heading("Damped solve (GGN + δI) x = ∇L, δ = 10⁻³ λmax = \(formatNumber(damping, significant: 4)), CG to relative residual 1e-6", section)
    table = TextTable(["preconditioner", "iterations", "relative residual"])
    for (name, result) in [("none", plain), ("KFAC (type-2)", preconditioned)] {
      let residual = try relativeResidual(system, result.solution, gradient)
      let iterations = result.outcome == .converged ? "\(result.iterations)" : "\(result.iterations) (not converged)"
      table.add([name, iterations, formatScientific(residual, digits: 2)])
    }
    print(table.text)
    if preconditioned.iterations < plain.iterations {
      print("  KFAC cuts the iterations \(String(format: "%.1f", Double(plain.iterations) / Double(max(preconditioned.iterations, 1))))×.")
    } else {
      print("  Here KFAC does not help: it drops the GGN's cross-layer blocks (see its error above), while plain CG")
      print("  profits from the GGN's low rank (N·(C−1) = \(2 * data.count) directions for P = \(p)) and small damping.")
    }

    // 6. Spectral density of the Hessian.
    section = ContinuousClock.now
    let steps = small ? 30 : 60, probes = 8
    let quadrature = try stochasticLanczosQuadrature(
      hessian, options: SLQOptions(steps: steps, probes: probes, seed: 4), onProgress: progress.handler)
    progress.finish()
    let density = spectralDensity(quadrature, logMagnitude: false, variance: nil, gridPoints: nil)
    let plot = DensityPlot(
      grid: density.grid, density: density.density,
      title: "Hessian spectral density of a 2-\(hidden)-\(hidden)-3 MLP on a spiral",
      logScale: true,
      subtitle: "curv demo: SLQ, \(steps) Lanczos steps × \(probes) probes, P = \(p), N = \(data.count)")
    try writeText(plot.svg, to: output)
    let nodes = quadrature.nodes.joined()
    heading("Hessian spectral density (SLQ, \(steps) steps × \(probes) probes, \(quadrature.matvecs) matvecs)", section)
    print("  Ritz values in [\(formatNumber(nodes.min() ?? 0, significant: 4)), \(formatNumber(nodes.max() ?? 0, significant: 4))]; plot written to \(output)")
    print("\nTotal time \(formatSeconds(secondsSince(start)))")
  }

  /// A section heading with the section's time.
  func heading(_ title: String, _ start: ContinuousClock.Instant) {
    print("\n\(title)  [\(formatSeconds(secondsSince(start)))]")
  }

  /// A noisy spiral with `classes` arms: inputs `[classes · pointsPerClass, 2]` and labels.
  func spiral(pointsPerClass: Int, classes: Int, seed: UInt64) -> (NDArray<Double>, [Int]) {
    var rng = RandomGenerator(seed: seed)
    var scalars = [Double](), labels = [Int]()
    for c in 0..<classes {
      for i in 0..<pointsPerClass {
        let r = 0.1 + 0.9 * Double(i) / Double(pointsPerClass - 1)
        let angle = 2 * Double.pi * Double(c) / Double(classes) + 3.5 * r + 0.3 * rng.normal()
        scalars += [2 * r * sin(angle), 2 * r * cos(angle)]
        labels.append(c)
      }
    }
    return (NDArray(shape: [classes * pointsPerClass, 2], scalars: scalars), labels)
  }
}

