import ArgumentParser
import Curvature
import Foundation

/// `curv spectrum`: the spectral density by stochastic Lanczos quadrature, as an SVG plot
/// and as grid and density values.
struct SpectrumCommand: PrecisionGenericCommand {
  static let configuration = CommandConfiguration(
    commandName: "spectrum",
    abstract: "Estimate the spectral density (stochastic Lanczos quadrature) and plot it as SVG.",
    discussion: """
      Example: curv spectrum --model model.json --weights weights.safetensors \
      --inputs X.npy --targets y.npy --operator hessian --lanczos-steps 40 --repeats 10 \
      --output density.svg --log-scale

      Each of --repeats random probes (seeded by --seed) runs --lanczos-steps Lanczos steps; \
      the Gauss quadrature nodes, smoothed by Gaussians of variance σ² (PyHessian's \
      convention: σ² = --variance · max(1, λmax − λmin)), give the density on a grid. \
      --log-scale draws the density axis logarithmically; --log-magnitude gives the density \
      of log10|λ| instead of λ. --json prints the grid and density values.
      """)

  @OptionGroup(title: "Model and data") var dataOptions: DataOptions
  @OptionGroup(title: "Operator") var operatorOptions: OperatorOptions
  @OptionGroup(title: "Output") var outputOptions: OutputOptions

  @Option(help: ArgumentHelp("Lanczos steps per probe.", valueName: "K"))
  var lanczosSteps: Int = 30

  @Option(help: ArgumentHelp("Random probes.", valueName: "R"))
  var repeats: Int = 10

  @Option(help: ArgumentHelp("The SVG plot to write.", valueName: "density.svg"))
  var output: String?

  @Flag(help: "Draw the density axis on a logarithmic scale.")
  var logScale = false

  @Flag(help: "The density of log10|λ| instead of λ (for spectra spanning orders of magnitude).")
  var logMagnitude = false

  @Option(help: ArgumentHelp("Grid points (default: enough to resolve the smoothing, 1000–10000).", valueName: "G"))
  var gridPoints: Int?

  @Option(help: ArgumentHelp("Smoothing variance σ² (default: 1e-5, or 1e-3 with --log-magnitude).", valueName: "σ²"))
  var variance: Double?

  func validate() throws {
    guard lanczosSteps >= 1 else { throw ValidationError("--lanczos-steps must be at least 1, got \(lanczosSteps)") }
    guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1, got \(repeats)") }
    if let gridPoints, gridPoints < 2 { throw ValidationError("--grid-points must be at least 2, got \(gridPoints)") }
    if let variance, !(variance > 0 && variance.isFinite) { throw ValidationError("--variance must be positive, got \(variance)") }
    guard output != nil || outputOptions.json else { throw ValidationError("nothing to write: give --output density.svg, --json, or both") }
    try operatorOptions.checkApplicable()
  }

  func run() throws {
    if let output { try checkOutputPath(output, inputs: dataOptions.inputFiles) }
    try dispatch()
  }

  /// The JSON keys of `spectrum`; `output` only with `--output`.
  struct Report: Encodable {
    var grid: [Double]
    var density: [Double]
    var matvecs: Int
    var lanczosSteps: Int
    var repeats: Int
    var variance: Double
    var x: String
    var P: Int
    var damping: Double
    var output: String?

    enum CodingKeys: String, CodingKey {
      case grid, density, matvecs, repeats, variance, x, P, damping, output
      case lanczosSteps = "lanczos_steps"
    }
  }

  func execute<T: BLASScalar>(_: T.Type) throws {
    let start = ContinuousClock.now
    let loaded = try dataOptions.load(T.self, seed: operatorOptions.seed)
    let gate = loaded.gate
    let a = operatorOptions.dampedOperator(try operatorOptions.undampedOperator(loaded.problem))
    let bar = outputOptions.progressBar()
    let title = operatorOptions.kind.title
    let quadrature = try gate.run("the Lanczos quadrature of the \(title)") {
      try stochasticLanczosQuadrature(
        a, options: SLQOptions(steps: lanczosSteps, probes: repeats, seed: operatorOptions.seed), onProgress: bar.handler)
    }
    bar.finish()
    let nodes = try gate.check(Array(quadrature.nodes.joined()), "the Ritz values (quadrature nodes) of the \(title)")
    let density = spectralDensity(quadrature, logMagnitude: logMagnitude, variance: variance, gridPoints: gridPoints)
    try gate.check(density.grid, "the grid of the spectral density of the \(title)")
    try gate.check(density.density, "the spectral density of the \(title)")
    let smoothing = try gate.check(density.variance, "the smoothing variance of the spectral density")
    let steps = Swift.min(lanczosSteps, loaded.problem.dimension)
    if let output {
      let plot = DensityPlot(
        grid: density.grid, density: density.density,
        title: "Spectral density of the \(title)",
        xLabel: logMagnitude ? "log₁₀ |λ|" : "eigenvalue λ",
        logScale: logScale,
        subtitle: "SLQ: \(steps) Lanczos steps × \(repeats) probes, σ² = \(formatNumber(smoothing, significant: 3)); \(loaded.summary)")
      try writeText(plot.svg, to: output)
    }
    let seconds = secondsSince(start)
    if outputOptions.json {
      try printJSONReport(
        operator: operatorOptions.kind.argument, seconds: seconds,
        Report(
          grid: density.grid, density: density.density, matvecs: quadrature.matvecs, lanczosSteps: steps, repeats: repeats,
          variance: smoothing, x: logMagnitude ? "log10_magnitude" : "eigenvalue", P: loaded.problem.dimension,
          damping: operatorOptions.damping, output: output))
    } else {
      print("Spectral density of the \(title) (\(loaded.summary))")
      var table = TextTable(["", "value"])
      table.add(["Ritz values", "\(formatNumber(nodes.min() ?? 0, significant: 5)) … \(formatNumber(nodes.max() ?? 0, significant: 5))"])
      table.add(["grid", "\(density.grid.count) points on [\(formatNumber(density.grid.first ?? 0, significant: 4)), \(formatNumber(density.grid.last ?? 0, significant: 4))]"])
      table.add(["smoothing σ²", formatNumber(smoothing, significant: 3)])
      table.add(["matvecs", "\(quadrature.matvecs)"])
      table.add(["time", formatSeconds(seconds)])
      print(table.text)
      if let output { print("Wrote \(output)") }
    }
  }
}

/// The smoothed density of λ (or of log10|λ|) from a quadrature, on a grid fine enough to
/// resolve the smoothing (spacing at most σ/2, 1000 to 10000 points) unless `gridPoints`
/// is given.
func spectralDensity(_ quadrature: SpectralQuadrature, logMagnitude: Bool, variance: Double?, gridPoints: Int?) -> SpectralDensity {
  let nodes = quadrature.nodes.joined()
  let largest = nodes.map(Swift.abs).max() ?? 1
  let floor = Swift.max(Double.ulpOfOne * largest, .leastNormalMagnitude)
  let positions = logMagnitude ? nodes.map { log(Swift.max(Swift.abs($0), floor)) } : Array(nodes)
  let range = (positions.max() ?? 0) - (positions.min() ?? 0)
  let sigmaSquared = (variance ?? (logMagnitude ? 1e-3 : 1e-5)) * Swift.max(1, range)
  let sigma = sigmaSquared.squareRoot()
  let points = gridPoints ?? Swift.min(10_000, Swift.max(1_000, Int(((range + 10 * sigma) / (sigma / 2)).rounded(.up))))
  let options = SpectralDensityOptions(gridPoints: points, variance: variance ?? (logMagnitude ? 1e-3 : 1e-5))
  guard logMagnitude else { return quadrature.density(options: options) }
  // The library's density is of ln|λ|; rescale to log10|λ|.
  var density = quadrature.logMagnitudeDensity(options: options, floor: floor)
  density.grid = density.grid.map { $0 / M_LN10 }
  density.density = density.density.map { $0 * M_LN10 }
  return density
}
