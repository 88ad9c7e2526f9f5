// swift-tools-version: 6.2
// Tools version 6.2 is the first whose SwiftPM accepts `unsafeFlags` in a package that is used as a
// versioned dependency; we need that for the host-CPU flag below.
import PackageDescription

// Release builds make five choices (measured in Docs/Performance.md):
// - Cross-module optimisation, so that a client's calls into Tapestry's generic code (the tape,
//   optimisers, layers) are specialised for Float or Double instead of running through generic
//   metadata: 9x on small recorded ops, 36x on a chain of matmuls with backward.
// - On x86-64, the host's vector units (AVX2, FMA, AVX-512 where present). Without this, code is
//   generated for SSE2 only and SIMD fused multiply-adds become library calls (40x slower). arm64
//   always has NEON and FMA, so it needs no flag.
// - No hardware gathers (`-mno-gather`). The reservoir's sparse product loads eight state
//   elements at scattered columns per step of its inner loop; with AVX-512 the compiler made that
//   one `vgatherdpd`, which on Zen 4 (and on Intel cores with the Gather Data Sampling fix) is
//   slower than eight loads: the N = 2,000 harvest 1.5x slower (Docs/Performance.md).
// - Copies of generic structs compiled field by field. By default the compiler's out-of-line copy
//   and destroy of a specialised `Tensor<Float>` (or of a tape entry) calls the type's value
//   witness, which walks the generic layout at run time: ~160 instructions where a retain does.
// - A higher LLVM inlining threshold (600, default 225). Generic `SIMD16<Float>` arithmetic
//   reaches LLVM as sixteen scalar operations, merged into one vector instruction only after
//   inlining has run, so the inliner priced a kernel's `{ $0 * $1 }` at sixteen times its cost
//   and left it a call: every vector of a Float `*`, `+`, `-` and of the sigmoid and tanh
//   gradients passed through a call in four 128-bit registers. (`SIMD8<Double>` fitted.)
// Debug builds (and so `swift test`) keep the generic target: the portable path is tested too.
let copyFlags = ["-Xfrontend", "-disable-type-layout"]
let inliningFlags = ["-Xllvm", "-inline-threshold=600"]
#if arch(x86_64)
  let releaseFlags =
    ["-cross-module-optimization", "-Xcc", "-march=native", "-Xcc", "-mno-gather"] + copyFlags
    + inliningFlags
#else
  let releaseFlags = ["-cross-module-optimization"] + copyFlags + inliningFlags
#endif
let releaseSettings: [SwiftSetting] = [.unsafeFlags(releaseFlags, .when(configuration: .release))]

let package = Package(
  name: "Tapestry",
  platforms: [.macOS(.v15)],
  products: [
    .library(name: "Tapestry", targets: ["Tapestry"]),
    .executable(name: "tapestry", targets: ["TapestryCLI"]),
  ],
  targets: [
    // A header only: which vector registers the compiler targets (Kernels/RegisterTile.swift).
    .systemLibrary(name: "CTargetFeatures", path: "Sources/CTargetFeatures"),
    .target(
      name: "Tapestry",
      dependencies: ["CTargetFeatures"],
      swiftSettings: releaseSettings
    ),
    .executableTarget(
      name: "TapestryCLI",
      dependencies: ["Tapestry"],
      swiftSettings: releaseSettings
    ),
    .target(
      name: "TapestryTestSupport",
      dependencies: ["Tapestry"]
    ),
    .executableTarget(
      name: "QuickStart", dependencies: ["Tapestry"], path: "Examples/QuickStart"),
    .executableTarget(
      name: "TapeTour", dependencies: ["Tapestry"], path: "Examples/TapeTour"),
    .executableTarget(
      name: "CustomPrimitive", dependencies: ["Tapestry"], path: "Examples/CustomPrimitive"),
    .executableTarget(
      name: "TwoMoons", dependencies: ["Tapestry"], path: "Examples/TwoMoons"),
    .executableTarget(
      name: "Regression", dependencies: ["Tapestry"], path: "Examples/Regression"),
    .executableTarget(
      name: "CustomCell", dependencies: ["Tapestry"], path: "Examples/CustomCell"),
    .executableTarget(
      name: "AddingProblem", dependencies: ["Tapestry"], path: "Examples/AddingProblem"),
    .executableTarget(
      name: "MackeyGlass", dependencies: ["Tapestry"], path: "Examples/MackeyGlass"),
    .executableTarget(
      name: "NARMA10", dependencies: ["Tapestry"], path: "Examples/NARMA10"),
    .executableTarget(
      name: "DifferentiableReservoir", dependencies: ["Tapestry"],
      path: "Examples/DifferentiableReservoir"),
    .testTarget(
      name: "TapestryTests",
      // TapestryCLI: the command-line parser is unit-tested (SwiftPM links an executable target
      // into tests with its `main` renamed).
      dependencies: ["Tapestry", "TapestryTestSupport", "TapestryCLI"],
      // Fixtures are read from the source tree (located via #filePath), next to the scripts
      // that generate them, rather than bundled as resources.
      exclude: ["Fixtures"]
    ),
  ],
  swiftLanguageModes: [.v6]
)
