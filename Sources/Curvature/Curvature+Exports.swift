// `Curvature` is the umbrella module: it re-exports every layer below it, so users write
// `import Curvature` and get the whole library, as before the split into targets.
@_exported import CurvatureNumerics
@_exported import CurvatureLinearAlgebra
@_exported import CurvatureToeplitz
@_exported import CurvatureAutodiff
@_exported import CurvatureNN
@_exported import CurvatureDistributed
